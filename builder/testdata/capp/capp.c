/*
 * capp is the dynamically linked C app of the end-to-end test
 * TestEndToEndC: an HTTP server on plain POSIX sockets, one connection at
 * a time, that follows the contract of examples/hello:
 *
 *   GET /        increments the counter in $DATA_DIR/count (default
 *                /data/count) and answers "count: N"
 *   GET /healthz answers "ok" without touching the counter
 *
 * It listens on $PORT (default 8080). Every update is written to a
 * temporary file, fsync'd and renamed over the old one, and the directory
 * is fsync'd. SIGTERM sets a flag that ends the accept loop: the signal
 * is blocked except while ppoll waits for a connection, so it cannot slip
 * in between the check of the flag and the wait. capp then logs "SIGTERM:
 * shutting down", closes the listening socket and exits 0.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

static volatile sig_atomic_t stopping;

static void on_term(int sig)
{
	(void)sig;
	stopping = 1;
}

static const char *env(const char *name, const char *def)
{
	const char *v = getenv(name);
	return v && *v ? v : def;
}

/* write_all writes the n bytes of p to fd. */
static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* increment adds one to the counter in dir/count and returns the new
 * value once it is on stable storage, or -1 with errno set. */
static long increment(const char *dir)
{
	char path[PATH_MAX], tmp[PATH_MAX], buf[32];
	long n = 0;
	snprintf(path, sizeof path, "%s/count", dir);
	snprintf(tmp, sizeof tmp, "%s/count.tmp", dir);

	FILE *f = fopen(path, "r");
	if (f) {
		if (fscanf(f, "%ld", &n) != 1)
			n = 0;
		fclose(f);
	} else if (errno != ENOENT) {
		return -1;
	}
	n++;

	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	int len = snprintf(buf, sizeof buf, "%ld\n", n);
	if (write_all(fd, buf, (size_t)len) < 0 || fsync(fd) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	if (close(fd) < 0 || rename(tmp, path) < 0)
		return -1;
	int d = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (d < 0)
		return -1;
	int r = fsync(d);
	close(d);
	return r < 0 ? -1 : n;
}

static void reply(int c, int status, const char *reason, const char *body)
{
	char head[256];
	int n = snprintf(head, sizeof head,
			 "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\n"
			 "Content-Length: %zu\r\nConnection: close\r\n\r\n",
			 status, reason, strlen(body));
	if (write_all(c, head, (size_t)n) == 0)
		write_all(c, body, strlen(body));
}

/* serve reads one request from c (up to the end of its header) and
 * answers it. */
static void serve(int c, const char *dir)
{
	char req[4096];
	size_t n = 0;
	while (n < sizeof req - 1) {
		ssize_t r = read(c, req + n, sizeof req - 1 - n);
		if (r < 0 && errno == EINTR && !stopping)
			continue;
		if (r <= 0)
			return;
		n += (size_t)r;
		req[n] = 0;
		if (strstr(req, "\r\n\r\n"))
			break;
	}
	req[n] = 0;
	char method[16], target[1024];
	if (sscanf(req, "%15s %1023s", method, target) != 2) {
		reply(c, 400, "Bad Request", "bad request\n");
		return;
	}
	char *q = strchr(target, '?');
	if (q)
		*q = 0;
	if (strcmp(method, "GET") != 0) {
		reply(c, 405, "Method Not Allowed", "Method Not Allowed\n");
	} else if (strcmp(target, "/healthz") == 0) {
		reply(c, 200, "OK", "ok\n");
	} else if (strcmp(target, "/") == 0) {
		char body[256];
		long v = increment(dir);
		if (v < 0) {
			snprintf(body, sizeof body, "cannot persist counter: %s\n", strerror(errno));
			fprintf(stderr, "increment: %s\n", strerror(errno));
			reply(c, 500, "Internal Server Error", body);
			return;
		}
		snprintf(body, sizeof body, "count: %ld\n", v);
		reply(c, 200, "OK", body);
	} else {
		reply(c, 404, "Not Found", "404 page not found\n");
	}
}

int main(void)
{
	const char *dir = env("DATA_DIR", "/data");
	int port = atoi(env("PORT", "8080"));
	if (port < 1 || port > 65535) {
		fprintf(stderr, "PORT=%s: not a port number (1 to 65535)\n", env("PORT", ""));
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_term;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigset_t block, waitmask;
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigprocmask(SIG_BLOCK, &block, &waitmask); /* waitmask: the old mask */

	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0) {
		perror("socket");
		return 1;
	}
	int one = 1;
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	struct sockaddr_in addr;
	memset(&addr, 0, sizeof addr);
	addr.sin_family = AF_INET;
	addr.sin_addr.s_addr = htonl(INADDR_ANY);
	addr.sin_port = htons((unsigned short)port);
	if (bind(s, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(s, 16) < 0) {
		perror("listen");
		return 1;
	}
	fprintf(stderr, "capp: listening on :%d, counter in %s/count\n", port, dir);

	while (!stopping) {
		struct pollfd pfd = {.fd = s, .events = POLLIN};
		if (ppoll(&pfd, 1, NULL, &waitmask) < 0) {
			if (errno != EINTR) {
				perror("ppoll");
				return 1;
			}
			continue; /* the handler ran: check the flag */
		}
		int c = accept4(s, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0) {
			if (errno != EINTR)
				perror("accept");
			continue;
		}
		/* A client that sends nothing must not hold the loop. */
		struct timeval tv = {.tv_sec = 10};
		setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
		serve(c, dir);
		close(c);
	}
	fprintf(stderr, "SIGTERM: shutting down\n");
	close(s);
	fprintf(stderr, "stopped\n");
	return 0;
}
