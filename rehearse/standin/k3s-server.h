/* The stand-in's server: the node list (kept on disk, like k3s's datastore) and its line protocol. */

struct node {
    char name[256], ip[64], version[64], roles[64];
    /* The one annotation our steps set (hybrid-k3s.io/drained-for), "-" when unset. */
    char drained_for[64];
    int cordoned;
    long last_seen;
};

static struct node nodes[MAX_NODES];
static int node_count;
static char state_path[600];
static char ca_path[640];

/*
 * The cluster CA, at <data-dir>/server/tls/server-ca.crt as k3s keeps it: made once by the first
 * server (random bytes in PEM armour: a stand-in, not a certificate), fetched by joining servers.
 */
static void write_server_ca(struct settings *s, const char *server_dir) {
    char tls[620];
    snprintf(tls, sizeof tls, "%s/tls", server_dir);
    mkdir(tls, 0700);
    snprintf(ca_path, sizeof ca_path, "%s/server-ca.crt", tls);
    if (access(ca_path, R_OK) == 0) return;
    char pem[8192] = "";
    if (s->server[0]) {
        if (ask(s->server, "CACERTS", pem, sizeof pem) != 0 || !pem[0]) fatal("cannot fetch the cluster CA from %s", s->server);
    } else {
        unsigned char random[48];
        FILE *source = fopen("/dev/urandom", "r");
        if (!source || fread(random, 1, sizeof random, source) != sizeof random) fatal("cannot read /dev/urandom");
        fclose(source);
        int at = snprintf(pem, sizeof pem, "-----BEGIN CERTIFICATE-----\nstand-in-k3s-ca-");
        for (size_t i = 0; i < sizeof random; i++) at += snprintf(pem + at, sizeof pem - at, "%02x", random[i]);
        snprintf(pem + at, sizeof pem - at, "\n-----END CERTIFICATE-----\n");
    }
    FILE *file = fopen(ca_path, "w");
    if (!file) fatal("cannot write %s: %s", ca_path, strerror(errno));
    fputs(pem, file);
    fclose(file);
    logline("wrote cluster CA %s", ca_path);
}

static void save_nodes(void) {
    char tmp[620];
    snprintf(tmp, sizeof tmp, "%s.new", state_path);
    FILE *file = fopen(tmp, "w");
    if (!file) fatal("cannot write %s: %s", tmp, strerror(errno));
    for (int i = 0; i < node_count; i++) {
        fprintf(file, "%s %s %s %s %d %ld %s\n", nodes[i].name, nodes[i].ip, nodes[i].version, nodes[i].roles, nodes[i].cordoned, nodes[i].last_seen,
                nodes[i].drained_for[0] ? nodes[i].drained_for : "-");
    }
    fclose(file);
    rename(tmp, state_path);
}

static void load_nodes(void) {
    FILE *file = fopen(state_path, "r");
    if (!file) return;
    struct node n;
    while (node_count < MAX_NODES &&
           fscanf(file, "%255s %63s %63s %63s %d %ld %63s", n.name, n.ip, n.version, n.roles, &n.cordoned, &n.last_seen, n.drained_for) == 7) {
        if (!strcmp(n.drained_for, "-")) n.drained_for[0] = 0;
        nodes[node_count++] = n;
    }
    fclose(file);
}

static struct node *find_node(const char *name) {
    for (int i = 0; i < node_count; i++) if (!strcmp(nodes[i].name, name)) return &nodes[i];
    return NULL;
}

static void register_node(const char *name, const char *ip, const char *version, const char *roles) {
    struct node *n = find_node(name);
    if (!n) {
        if (node_count == MAX_NODES) return;
        n = &nodes[node_count++];
        memset(n, 0, sizeof *n);
        copy(n->name, sizeof n->name, name);
    }
    copy(n->ip, sizeof n->ip, ip);
    copy(n->version, sizeof n->version, version);
    copy(n->roles, sizeof n->roles, roles);
    n->last_seen = time(NULL);
    save_nodes();
}

static void answer_request(struct settings *s, int fd, char *line, const char *self) {
    char a[256] = "", b[256] = "", c[64] = "", d[64] = "", e[64] = "";
    int words = sscanf(line, "%*s %255s %255s %63s %63s %63s", a, b, c, d, e);
    struct node *n;
    if (!strncmp(line, "READYZ", 6)) {
        dprintf(fd, "ok\n");
    } else if (!strncmp(line, "CACERTS", 7)) {
        /* Served without authentication, as k3s serves /cacerts. */
        FILE *ca = fopen(ca_path, "r");
        char chunk[1024];
        size_t n;
        while (ca && (n = fread(chunk, 1, sizeof chunk, ca)) > 0) write(fd, chunk, n);
        if (ca) fclose(ca);
    } else if (!strncmp(line, "REGISTER ", 9) && words == 5) {
        char server_digest[32], agent_digest[32];
        snprintf(server_digest, sizeof server_digest, "%lx", digest(token_password(s->token)));
        snprintf(agent_digest, sizeof agent_digest, "%lx", digest(token_password(s->agent_token[0] ? s->agent_token : s->token)));
        /* Servers join with the server token only; agents with either. */
        if (strcmp(a, server_digest) && (strcmp(e, "agent") || strcmp(a, agent_digest))) {
            logline("refused node %s: token mismatch", b);
            dprintf(fd, "ERR unauthorized: token does not match this cluster\n");
        } else {
            register_node(b, c, d, !strcmp(e, "server") ? "control-plane,master" : "<none>");
            dprintf(fd, "OK\n");
        }
    } else if (!strncmp(line, "GET ", 4) && words >= 1) {
        if ((n = find_node(a))) dprintf(fd, "node/%s %s %s\n", n->name, n->version, n->drained_for[0] ? n->drained_for : "-");
    } else if (!strncmp(line, "HEARTBEAT ", 10) && words >= 1) {
        if ((n = find_node(a))) {
            n->last_seen = time(NULL);
            dprintf(fd, "OK\n");
        } else {
            dprintf(fd, "ERR notfound\n");
        }
    } else if (!strncmp(line, "ANNOTATE ", 9) && words >= 2) {
        if (!(n = find_node(a))) {
            dprintf(fd, "ERR notfound\n");
        } else {
            copy(n->drained_for, sizeof n->drained_for, strcmp(b, "-") ? b : "");
            save_nodes();
            dprintf(fd, "OK\n");
        }
    } else if (!strncmp(line, "LIST", 4)) {
        long now = time(NULL);
        dprintf(fd, "%-24s %-30s %-22s %-5s %s\n", "NAME", "STATUS", "ROLES", "AGE", "VERSION");
        for (int i = 0; i < node_count; i++) {
            n = &nodes[i];
            int ready = !strcmp(n->name, self) || now - n->last_seen < NOT_READY_AFTER_SECONDS;
            char status[40];
            snprintf(status, sizeof status, "%s%s", ready ? "Ready" : "NotReady", n->cordoned ? ",SchedulingDisabled" : "");
            dprintf(fd, "%-24s %-30s %-22s %-5s %s\n", n->name, status, n->roles, "1m", n->version);
        }
    } else if ((!strncmp(line, "CORDON ", 7) || !strncmp(line, "DELETE ", 7)) && words >= 1) {
        if (!(n = find_node(a))) {
            dprintf(fd, "ERR notfound\n");
        } else if (line[0] == 'C') {
            n->cordoned = atoi(b);
            save_nodes();
            dprintf(fd, "OK\n");
        } else {
            *n = nodes[--node_count];
            save_nodes();
            dprintf(fd, "OK\n");
        }
    } else {
        dprintf(fd, "ERR unknown request\n");
    }
}

static void serve_connection(struct settings *s, int fd) {
    struct timeval timeout = {.tv_sec = 2};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    char line[1024];
    ssize_t got = 0, n;
    while (got < (ssize_t)sizeof line - 1 && (n = read(fd, line + got, sizeof line - 1 - got)) > 0) {
        got += n;
        if (memchr(line, '\n', got)) break;
    }
    line[got > 0 ? got : 0] = 0;
    if (got > 0) answer_request(s, fd, line, s->node_name);
    close(fd);
}

/* As k3s's writeKubeConfig: server https://<bind address or 127.0.0.1>:6443, mode 0600 unless set. */
static void write_kubeconfig(struct settings *s) {
    const char *path = "/etc/rancher/k3s/k3s.yaml";
    mkdir("/etc/rancher", 0755);
    mkdir("/etc/rancher/k3s", 0755);
    FILE *file = fopen(path, "w");
    if (!file) fatal("cannot write %s: %s", path, strerror(errno));
    fprintf(file,
            "apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority-data: c3RhbmQtaW4gazNzOiBubyBDQQo=\n"
            "    server: https://%s:6443\n  name: default\ncontexts:\n- context:\n    cluster: default\n    user: default\n"
            "  name: default\ncurrent-context: default\nkind: Config\npreferences: {}\nusers:\n- name: default\n  user:\n"
            "    client-certificate-data: c3RhbmQtaW4gazNzOiBubyBjZXJ0aWZpY2F0ZQo=\n    client-key-data: c3RhbmQtaW4gazNzOiBubyBrZXkK\n",
            s->bind_address[0] ? s->bind_address : "127.0.0.1");
    fclose(file);
    chmod(path, s->kubeconfig_mode[0] ? strtol(s->kubeconfig_mode, NULL, 8) : 0600);
    logline("wrote kubeconfig %s", path);
}

_Noreturn static void run_server(struct settings *s) {
    load_token(s);
    if (!s->token[0]) fatal("no token: this stand-in needs --token or --token-file (ours always sets one)");
    if (s->server[0]) {
        char request[1024], answer[256] = "";
        snprintf(request, sizeof request, "REGISTER %lx %s %s %s server", digest(token_password(s->token)), s->node_name, s->node_ip[0] ? s->node_ip : "-", K3S_VERSION);
        if (ask(s->server, request, answer, sizeof answer) || strncmp(answer, "OK", 2)) fatal("cannot join server %s: %s", s->server, answer[0] ? answer : "unreachable");
    }
    char dir[560];
    snprintf(dir, sizeof dir, "%s/server", s->data_dir);
    mkdir("/var/lib/rancher", 0755);
    mkdir(s->data_dir, 0700);
    mkdir(dir, 0700);
    snprintf(state_path, sizeof state_path, "%s/stand-in-nodes", dir);
    write_server_ca(s, dir);
    load_nodes();
    int api = listen_on(s->bind_address[0] ? s->bind_address : "0.0.0.0", 6443);
    int kubelet = listen_on("0.0.0.0", 10250);
    register_node(s->node_name, s->node_ip[0] ? s->node_ip : "-", K3S_VERSION, "control-plane,master");
    write_kubeconfig(s);
    notify_ready();
    for (;;) {
        struct pollfd wait[2] = {{.fd = api, .events = POLLIN}, {.fd = kubelet, .events = POLLIN}};
        if (poll(wait, 2, -1) <= 0) continue;
        if (wait[0].revents & POLLIN) serve_connection(s, accept(api, NULL, NULL));
        if (wait[1].revents & POLLIN) close(accept(kubelet, NULL, NULL));
    }
}
