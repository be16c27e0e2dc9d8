/*
 * Stand-in for the web servers critest 1.36.0 runs (nginx, hostnet-nginx, httpd): answers every
 * HTTP request with 200 and a small page, exits on SIGTERM/SIGINT/SIGQUIT (it is PID 1).
 * The name it is run as decides the rest:
 *   nginx  re-executes itself so that /proc/PID/cmdline reads "nginx: master process nginx -g daemon off;"
 *          (the comm stays "nginx") and writes its pid to /var/run/nginx.pid.
 *   httpd  prints Apache's start-up lines, "... Command line: 'httpd -D FOREGROUND'", to stderr.
 * LISTEN=ADDR:PORT overrides the default 0.0.0.0:80.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define NGINX_TITLE "nginx: master process nginx -g daemon off;"

static void on_signal(int sig) { (void)sig; _exit(0); }

static int listen_on(const char *spec)
{
    char host[64] = "0.0.0.0";
    int port = 80;
    const char *colon = strrchr(spec, ':');
    if (colon != NULL) {
        size_t n = (size_t)(colon - spec);
        if (n > 0 && n < sizeof host) { memcpy(host, spec, n); host[n] = 0; }
        port = atoi(colon + 1);
    }
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons((unsigned short)port) };
    if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) { fprintf(stderr, "bad LISTEN address %s\n", spec); exit(2); }
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(fd, 64) != 0) {
        fprintf(stderr, "cannot listen on %s:%d: %s\n", host, port, strerror(errno));
        exit(1);
    }
    return fd;
}

static void serve(int fd, const char *name)
{
    char body[256], head[256], buf[4096];
    int blen = snprintf(body, sizeof body,
        "<!DOCTYPE html>\n<html><head><title>Welcome to %s!</title></head><body><h1>Welcome to %s!</h1></body></html>\n", name, name);
    int hlen = snprintf(head, sizeof head,
        "HTTP/1.1 200 OK\r\nServer: %s\r\nContent-Type: text/html\r\nContent-Length: %d\r\nConnection: close\r\n\r\n", name, blen);
    for (;;) {
        int c = accept(fd, NULL, NULL);
        if (c < 0) { if (errno == EINTR) continue; continue; }
        struct timeval tv = { .tv_sec = 5 };
        setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        size_t got = 0;
        ssize_t n;
        while (got < sizeof buf - 1 && (n = read(c, buf + got, sizeof buf - 1 - got)) > 0) {
            got += (size_t)n;
            buf[got] = 0;
            if (strstr(buf, "\r\n\r\n") || strstr(buf, "\n\n")) break;
        }
        if (got > 0) {
            if (write(c, head, (size_t)hlen) < 0 || write(c, body, (size_t)blen) < 0) { /* client went away */ }
        }
        close(c);
    }
}

int main(int argc, char **argv)
{
    (void)argc;
    const char *base = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
    int nginx = strncmp(base, "nginx", 5) == 0;
    if (nginx && strcmp(argv[0], NGINX_TITLE) != 0) {
        /* exec'ing the binary by its own path keeps the comm "nginx" (/proc/self/exe would make it "exe") */
        char self[4096];
        ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
        if (n <= 0) { perror("readlink /proc/self/exe"); return 1; }
        self[n] = 0;
        char *title[] = { NGINX_TITLE, NULL };
        execv(self, title);
        perror("execv");
        return 1;
    }
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    signal(SIGQUIT, on_signal);
    signal(SIGPIPE, SIG_IGN);
    const char *spec = getenv("LISTEN");
    int fd = listen_on(spec && *spec ? spec : "0.0.0.0:80");
    if (nginx) {
        FILE *f = fopen("/var/run/nginx.pid", "w");
        if (f == NULL) { perror("/var/run/nginx.pid"); return 1; }
        fprintf(f, "%d\n", (int)getpid());
        fclose(f);
        serve(fd, "nginx");
    }
    fprintf(stderr, "[mpm_event:notice] [pid %d] AH00489: Apache/2.4.39 (Unix) configured -- resuming normal operations\n", (int)getpid());
    fprintf(stderr, "[core:notice] [pid %d] AH00094: Command line: 'httpd -D FOREGROUND'\n", (int)getpid());
    serve(fd, "httpd");
    return 0;
}
