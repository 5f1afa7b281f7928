/*
 * Stand-in k3s for the rehearsal. NOT k3s: it runs no Kubernetes. It behaves like k3s where our
 * scripts and units depend on it: flags and config.yaml, refusing a missing token file, an agent
 * without a server, or a server it cannot reach; listening on the bind address :6443 (and the
 * kubelet's :10250 on every address, as the real kubelet does); READY=1 to systemd (Type=notify);
 * `--version`; the kubeconfig as k3s's writeKubeConfig writes it; and the `k3s kubectl` calls our
 * steps make, against a node list the server keeps (agents register over the mesh). Tokens as k3s
 * takes them (docs.k3s.io cli/token): a server's --token-file and --agent-token-file; the secure
 * format K10<sha256 of the server CA PEM>::<user>:<password>, where a joining node first downloads
 * /cacerts and refuses a server whose CA hash differs; agents may join with either token, servers
 * only with the server token.
 * Built static by the rehearsal: cc -static -O2 -DK3S_VERSION='"v1.31.1+k3s1"' k3s.c
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define LABEL "(stand-in)"
#define MAX_NODES 256
#define HEARTBEAT_SECONDS 5
#define NOT_READY_AFTER_SECONDS 20

struct settings {
    char node_name[256], node_ip[64], bind_address[64], token_file[512], token[512], server[512];
    char agent_token_file[512], agent_token[512];
    char kubeconfig_mode[16], data_dir[512];
};

static void fatal(const char *format, ...) {
    va_list args;
    va_start(args, format);
    fprintf(stderr, "level=fatal msg=\"" LABEL " ");
    vfprintf(stderr, format, args);
    fprintf(stderr, "\"\n");
    va_end(args);
    exit(1);
}

static void logline(const char *format, ...) {
    va_list args;
    va_start(args, format);
    fprintf(stderr, "level=info msg=\"" LABEL " ");
    vfprintf(stderr, format, args);
    fprintf(stderr, "\"\n");
    va_end(args);
}

static void copy(char *to, size_t size, const char *from) { snprintf(to, size, "%s", from); }

static void trim_value(char *value) {
    size_t n = strlen(value);
    while (n > 0 && (value[n - 1] == '\n' || value[n - 1] == '\r' || value[n - 1] == ' ')) value[--n] = 0;
    if (n >= 2 && (value[0] == '"' || value[0] == '\'') && value[n - 1] == value[0]) {
        memmove(value, value + 1, n - 2);
        value[n - 2] = 0;
    }
}

/* One setting by its flag name (without --); unknown ones are accepted and ignored. */
static void set(struct settings *s, const char *key, const char *value) {
    if (!strcmp(key, "node-name")) copy(s->node_name, sizeof s->node_name, value);
    else if (!strcmp(key, "node-ip")) copy(s->node_ip, sizeof s->node_ip, value);
    else if (!strcmp(key, "bind-address")) copy(s->bind_address, sizeof s->bind_address, value);
    else if (!strcmp(key, "token-file")) copy(s->token_file, sizeof s->token_file, value);
    else if (!strcmp(key, "token") || !strcmp(key, "t")) copy(s->token, sizeof s->token, value);
    else if (!strcmp(key, "agent-token-file")) copy(s->agent_token_file, sizeof s->agent_token_file, value);
    else if (!strcmp(key, "agent-token")) copy(s->agent_token, sizeof s->agent_token, value);
    else if (!strcmp(key, "server") || !strcmp(key, "s")) copy(s->server, sizeof s->server, value);
    else if (!strcmp(key, "write-kubeconfig-mode")) copy(s->kubeconfig_mode, sizeof s->kubeconfig_mode, value);
    else if (!strcmp(key, "data-dir") || !strcmp(key, "d")) copy(s->data_dir, sizeof s->data_dir, value);
}

/* `key: value` lines of a k3s config file (lists and nested maps are not settings we read). */
static void read_config_file(struct settings *s, const char *path, int required) {
    FILE *file = fopen(path, "r");
    if (!file) {
        if (required) fatal("config file %s: %s", path, strerror(errno));
        return;
    }
    char line[1024];
    while (fgets(line, sizeof line, file)) {
        if (line[0] == '#' || line[0] == ' ' || line[0] == '-') continue;
        char *colon = strchr(line, ':');
        if (!colon) continue;
        *colon = 0;
        char *value = colon + 1;
        while (*value == ' ') value++;
        trim_value(value);
        if (*value && *value != '[') set(s, line, value);
    }
    fclose(file);
}

static void parse(struct settings *s, int argc, char **argv) {
    copy(s->data_dir, sizeof s->data_dir, "/var/lib/rancher/k3s");
    const char *config = "/etc/rancher/k3s/config.yaml";
    for (int i = 0; i < argc; i++) {
        if (!strncmp(argv[i], "--config=", 9)) config = argv[i] + 9;
        if (!strcmp(argv[i], "--config") && i + 1 < argc) config = argv[i + 1];
    }
    read_config_file(s, "/etc/rancher/k3s/config.yaml", 0);
    if (strcmp(config, "/etc/rancher/k3s/config.yaml")) read_config_file(s, config, 1);
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        if (arg[0] != '-') continue;
        while (*arg == '-') arg++;
        char key[128];
        const char *eq = strchr(arg, '=');
        if (eq) {
            snprintf(key, sizeof key, "%.*s", (int)(eq - arg), arg);
            set(s, key, eq + 1);
        } else if (i + 1 < argc && argv[i + 1][0] != '-') {
            set(s, arg, argv[i + 1]);
        }
    }
    if (!s->node_name[0]) gethostname(s->node_name, sizeof s->node_name - 1);
}

/* k3s refuses to start with a token file it cannot read or that is empty. */
static void read_token_file(const char *path, char *token, size_t size) {
    if (!path[0]) return;
    FILE *file = fopen(path, "r");
    if (!file) fatal("failed to read token file %s: %s", path, strerror(errno));
    if (!fgets(token, size, file)) token[0] = 0;
    fclose(file);
    trim_value(token);
    if (!token[0]) fatal("token file %s is empty", path);
}

static void load_token(struct settings *s) {
    read_token_file(s->token_file, s->token, sizeof s->token);
    read_token_file(s->agent_token_file, s->agent_token, sizeof s->agent_token);
}

/* The password of a token: after `::<user>:` in the secure format, else the whole short token. */
static const char *token_password(const char *token) {
    const char *credentials = strncmp(token, "K10", 3) ? NULL : strstr(token, "::");
    if (!credentials) return token;
    const char *colon = strchr(credentials + 2, ':');
    return colon ? colon + 1 : credentials + 2;
}

/* The token never crosses the wire: the server compares digests (FNV-1a, enough for a stand-in). */
static unsigned long digest(const char *text) {
    unsigned long hash = 1469598103934665603UL;
    for (; *text; text++) hash = (hash ^ (unsigned char)*text) * 1099511628211UL;
    return hash;
}

static void notify_ready(void) {
    const char *path = getenv("NOTIFY_SOCKET");
    if (!path || !*path) return;
    struct sockaddr_un address = {.sun_family = AF_UNIX};
    copy(address.sun_path, sizeof address.sun_path, path);
    if (path[0] == '@') address.sun_path[0] = 0;
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    socklen_t length = offsetof(struct sockaddr_un, sun_path) + strlen(path);
    if (fd < 0 || sendto(fd, "READY=1", 7, 0, (struct sockaddr *)&address, length) < 0) logline("sd_notify failed: %s", strerror(errno));
    close(fd);
}

static int listen_on(const char *address, int port) {
    struct sockaddr_in where = {.sin_family = AF_INET, .sin_port = htons(port)};
    if (inet_pton(AF_INET, address, &where.sin_addr) != 1) fatal("bind address %s is not an IPv4 address", address);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), on = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    if (bind(fd, (struct sockaddr *)&where, sizeof where) < 0) fatal("listen tcp %s:%d: %s", address, port, strerror(errno));
    listen(fd, 64);
    logline("listening on %s:%d", address, port);
    return fd;
}

/* host:port of an https:// URL. */
static int split_url(const char *url, char *host, size_t size, int *port) {
    if (strncmp(url, "https://", 8)) return -1;
    const char *start = url + 8, *colon = strrchr(start, ':');
    if (!colon) return -1;
    snprintf(host, size, "%.*s", (int)(colon - start), start);
    *port = atoi(colon + 1);
    return 0;
}

/* One request line to the server, one answer back (empty string when unreachable: returns -1). */
static int ask(const char *url, const char *request, char *answer, size_t size) {
    char host[256];
    int port;
    if (split_url(url, host, sizeof host, &port)) fatal("server URL %s is not https://HOST:PORT", url);
    struct sockaddr_in where = {.sin_family = AF_INET, .sin_port = htons(port)};
    /* Our server URLs are mesh addresses; names would need NSS, which a static binary lacks. */
    if (inet_pton(AF_INET, host, &where.sin_addr) != 1) fatal("server %s: only IPv4 addresses are implemented", host);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct timeval timeout = {.tv_sec = 5};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
    if (connect(fd, (struct sockaddr *)&where, sizeof where) < 0) {
        close(fd);
        return -1;
    }
    dprintf(fd, "%s\n", request);
    size_t got = 0;
    ssize_t n;
    while (got + 1 < size && (n = read(fd, answer + got, size - got - 1)) > 0) got += n;
    answer[got] = 0;
    close(fd);
    return n < 0 ? -1 : 0;
}

/*
 * A secure token pins the server CA: download /cacerts (here: a CACERTS request), hash it, and refuse
 * a server whose hash differs, before any credential is sent. Waits for a server that is not up yet.
 */
static void verify_server_ca(struct settings *s) {
    if (strncmp(s->token, "K10", 3) || !strstr(s->token, "::")) return;
    char expected[65] = "", cacerts[8192] = "";
    snprintf(expected, sizeof expected, "%.*s", (int)(strstr(s->token, "::") - s->token - 3), s->token + 3);
    for (int attempt = 0; ask(s->server, "CACERTS", cacerts, sizeof cacerts) != 0 || !cacerts[0]; attempt++) {
        if (attempt >= 30) fatal("cannot reach server %s after 60s", s->server);
        logline("waiting for the server CA from %s", s->server);
        sleep(2);
    }
    const char *path = "/run/k3s-stand-in-cacerts";
    FILE *file = fopen(path, "w");
    if (!file) fatal("cannot write %s: %s", path, strerror(errno));
    fputs(cacerts, file);
    fclose(file);
    char command[128], actual[65] = "";
    snprintf(command, sizeof command, "sha256sum %s", path);
    FILE *hash = popen(command, "r");
    if (!hash || fscanf(hash, "%64s", actual) != 1) fatal("cannot hash the server CA");
    pclose(hash);
    if (strcmp(expected, actual)) fatal("failed to validate token: token CA hash does not match the Cluster CA certificate hash: %s != %s", expected, actual);
    logline("server CA matches the token's hash %s", expected);
}

#include "k3s-server.h"
#include "k3s-kubectl.h"

_Noreturn static void run_agent(struct settings *s) {
    if (!s->server[0]) fatal("--server is required for an agent (https://SERVER:6443)");
    load_token(s);
    if (!s->token[0]) fatal("--token or --token-file is required to join a cluster");
    verify_server_ca(s);
    char request[1024], answer[256];
    snprintf(request, sizeof request, "REGISTER %lx %s %s %s agent", digest(token_password(s->token)), s->node_name, s->node_ip[0] ? s->node_ip : "-", K3S_VERSION);
    /* k3s agents wait for the server; past a minute this one gives up and systemd restarts it. */
    for (int attempt = 0;; attempt++) {
        if (ask(s->server, request, answer, sizeof answer) == 0 && !strncmp(answer, "OK", 2)) break;
        if (!strncmp(answer, "ERR", 3)) fatal("server %s refused this node: %s", s->server, answer);
        if (attempt >= 30) fatal("cannot reach server %s after 60s", s->server);
        logline("waiting to retrieve agent configuration; server %s is not ready", s->server);
        sleep(2);
    }
    logline("registered with %s as %s", s->server, s->node_name);
    /* An agent keeps its state (containerd, images, local-path volumes) under <data-dir>/agent. */
    char agent_dir[600];
    snprintf(agent_dir, sizeof agent_dir, "%s/agent", s->data_dir);
    mkdir("/var/lib/rancher", 0755);
    mkdir(s->data_dir, 0700);
    mkdir(agent_dir, 0700);
    int kubelet = listen_on("0.0.0.0", 10250);
    notify_ready();
    for (;;) {
        struct pollfd wait = {.fd = kubelet, .events = POLLIN};
        if (poll(&wait, 1, HEARTBEAT_SECONDS * 1000) > 0) close(accept(kubelet, NULL, NULL));
        /* Like the kubelet, it registers its Node once and then only reports status: a Node deleted
           while the agent runs stays deleted (status updates fail with "not found"). */
        char heartbeat[400];
        snprintf(heartbeat, sizeof heartbeat, "HEARTBEAT %s", s->node_name);
        if (ask(s->server, heartbeat, answer, sizeof answer) != 0) logline("server %s unreachable", s->server);
        else if (strncmp(answer, "OK", 2)) logline("error updating node status: nodes \"%s\" not found", s->node_name);
    }
}

int main(int argc, char **argv) {
    setvbuf(stderr, NULL, _IOLBF, 0);
    if (argc >= 2 && (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-v") || !strcmp(argv[1], "version"))) {
        printf("k3s version %s " LABEL "\ngo version none (rehearsal stand-in, not k3s)\n", K3S_VERSION);
        return 0;
    }
    if (argc >= 2 && !strcmp(argv[1], "kubectl")) return run_kubectl(argc - 2, argv + 2);
    if (argc >= 2 && (!strcmp(argv[1], "server") || !strcmp(argv[1], "agent"))) {
        struct settings s = {0};
        parse(&s, argc - 2, argv + 2);
        logline("k3s %s %s starting on %s", argv[1], K3S_VERSION, s.node_name);
        if (!strcmp(argv[1], "server")) run_server(&s);
        run_agent(&s);
    }
    fprintf(stderr, "k3s %s " LABEL ": usage: k3s --version | server [flags] | agent [flags] | kubectl ...\n", K3S_VERSION);
    return 1;
}
