/* `k3s kubectl`: only the calls our steps and checks make, against the stand-in server. */

static void api_url(const char *kubeconfig, char *url, size_t size) {
    FILE *file = fopen(kubeconfig, "r");
    if (!file) fatal("kubectl: cannot read kubeconfig %s: %s", kubeconfig, strerror(errno));
    char line[1024];
    url[0] = 0;
    while (fgets(line, sizeof line, file)) {
        char *server = strstr(line, "server:");
        if (server) {
            server += 7;
            while (*server == ' ') server++;
            trim_value(server);
            copy(url, size, server);
            break;
        }
    }
    fclose(file);
    if (!url[0]) fatal("kubectl: %s names no server", kubeconfig);
}

static int kubectl_ask(const char *url, const char *request, char *answer, size_t size) {
    if (ask(url, request, answer, size) == 0) return 0;
    fprintf(stderr, "The connection to the server %s was refused - did you specify the right host or port? " LABEL "\n", url + 8);
    exit(1);
}

static int run_kubectl(int argc, char **argv) {
    const char *kubeconfig = getenv("KUBECONFIG") ? getenv("KUBECONFIG") : "/etc/rancher/k3s/k3s.yaml";
    const char *words[16];
    int count = 0, ignore_not_found = 0, output_name = 0;
    const char *jsonpath = NULL;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--kubeconfig") && i + 1 < argc) kubeconfig = argv[++i];
        else if (!strncmp(argv[i], "--kubeconfig=", 13)) kubeconfig = argv[i] + 13;
        else if (!strcmp(argv[i], "--ignore-not-found")) ignore_not_found = 1;
        else if (!strcmp(argv[i], "-o") && i + 1 < argc && !strncmp(argv[i + 1], "jsonpath=", 9)) jsonpath = argv[++i] + 9;
        else if (!strcmp(argv[i], "-o") && i + 1 < argc) output_name = !strcmp(argv[++i], "name");
        else if (!strcmp(argv[i], "--raw") && i + 1 < argc) { words[count++] = "raw"; words[count++] = argv[++i]; }
        else if (argv[i][0] != '-' && count < 14) words[count++] = argv[i];
    }
    char url[512], request[600], answer[16384];
    api_url(kubeconfig, url, sizeof url);
    const char *verb = count > 0 ? words[0] : "";
    const char *name = count > 2 ? words[2] : count > 1 ? words[1] : "";
    if (!strcmp(verb, "get") && count >= 3 && !strcmp(words[1], "raw")) {
        if (strcmp(words[2], "/readyz")) fatal("kubectl: only get --raw /readyz is implemented");
        kubectl_ask(url, "READYZ", answer, sizeof answer);
        fputs(answer, stdout);
        return strncmp(answer, "ok", 2) != 0;
    }
    if (!strcmp(verb, "get") && count >= 2 && (!strcmp(words[1], "nodes") || !strcmp(words[1], "node") || !strcmp(words[1], "no"))) {
        if (count == 2) {
            kubectl_ask(url, "LIST", answer, sizeof answer);
            fputs(answer, stdout);
            return 0;
        }
        snprintf(request, sizeof request, "GET %s", name);
        kubectl_ask(url, request, answer, sizeof answer);
        if (!answer[0]) {
            if (ignore_not_found) return 0;
            fprintf(stderr, "Error from server (NotFound): nodes \"%s\" not found\n", name);
            return 1;
        }
        char object[300] = "", version[64] = "", drained_for[64] = "";
        sscanf(answer, "%299s %63s %63s", object, version, drained_for);
        if (output_name) {
            puts(object);
            return 0;
        }
        /* The two fields our steps read, as kubectl's jsonpath prints them (no newline; empty when unset). */
        if (jsonpath && !strcmp(jsonpath, "{.status.nodeInfo.kubeletVersion}")) {
            fputs(version, stdout);
            return 0;
        }
        if (jsonpath && !strcmp(jsonpath, "{.metadata.annotations.hybrid-k3s\\.io/drained-for}")) {
            if (strcmp(drained_for, "-")) fputs(drained_for, stdout);
            return 0;
        }
        if (jsonpath) fatal("kubectl: jsonpath %s is not implemented", jsonpath);
        kubectl_ask(url, "LIST", answer, sizeof answer);
        for (char *line = strtok(answer, "\n"); line; line = strtok(NULL, "\n")) {
            if (!strncmp(line, "NAME ", 5) || (!strncmp(line, name, strlen(name)) && line[strlen(name)] == ' ')) puts(line);
        }
        return 0;
    }
    int cordon = !strcmp(verb, "drain") || !strcmp(verb, "cordon");
    if (cordon || !strcmp(verb, "uncordon")) {
        snprintf(request, sizeof request, "CORDON %s %d", words[1], cordon);
        kubectl_ask(url, request, answer, sizeof answer);
        if (strncmp(answer, "OK", 2)) {
            fprintf(stderr, "Error from server (NotFound): nodes \"%s\" not found\n", words[1]);
            return 1;
        }
        printf("node/%s %s\n", words[1], cordon ? "cordoned" : "uncordoned");
        if (!strcmp(verb, "drain")) printf("node/%s drained\n", words[1]);
        return 0;
    }
    /* annotate node N [--overwrite] hybrid-k3s.io/drained-for=V, or hybrid-k3s.io/drained-for- to remove it. */
    if (!strcmp(verb, "annotate") && count >= 4 && !strcmp(words[1], "node")) {
        const char *key = "hybrid-k3s.io/drained-for";
        const char *change = words[3];
        if (strncmp(change, key, strlen(key))) fatal("kubectl: only the %s annotation is implemented", key);
        const char *rest = change + strlen(key);
        if (strcmp(rest, "-") && rest[0] != '=') fatal("kubectl: annotate %s: expected %s=VALUE or %s-", change, key, key);
        snprintf(request, sizeof request, "ANNOTATE %s %s", name, rest[0] == '=' ? rest + 1 : "-");
        kubectl_ask(url, request, answer, sizeof answer);
        if (strncmp(answer, "OK", 2)) {
            fprintf(stderr, "Error from server (NotFound): nodes \"%s\" not found\n", name);
            return 1;
        }
        printf("node/%s annotated\n", name);
        return 0;
    }
    if (!strcmp(verb, "delete") && count >= 3 && (!strcmp(words[1], "node") || !strcmp(words[1], "nodes"))) {
        snprintf(request, sizeof request, "DELETE %s", name);
        kubectl_ask(url, request, answer, sizeof answer);
        if (strncmp(answer, "OK", 2)) {
            if (ignore_not_found) return 0;
            fprintf(stderr, "Error from server (NotFound): nodes \"%s\" not found\n", name);
            return 1;
        }
        printf("node \"%s\" deleted\n", name);
        return 0;
    }
    fprintf(stderr, "kubectl " LABEL ": not implemented:");
    for (int i = 0; i < argc; i++) fprintf(stderr, " %s", argv[i]);
    fprintf(stderr, "\n");
    return 1;
}
