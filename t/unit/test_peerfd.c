/* opf_peerfd: finding a process's connections to given peers, covering
 * them in a forked child, shutting them down to unblock a reader. */
#include "tap.h"
#include "opf_peerfd.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static int listener(int *port)
{
    struct sockaddr_in sin;
    socklen_t len = sizeof(sin);
    int s = socket(AF_INET, SOCK_STREAM, 0);

    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (s < 0 || bind(s, (struct sockaddr *)&sin, sizeof(sin)) != 0
        || listen(s, 8) != 0
        || getsockname(s, (struct sockaddr *)&sin, &len) != 0)
        return -1;
    *port = ntohs(sin.sin_port);
    return s;
}

static int dial(int port)
{
    struct sockaddr_in sin;
    int s = socket(AF_INET, SOCK_STREAM, 0);

    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons((unsigned short)port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (s < 0 || connect(s, (struct sockaddr *)&sin, sizeof(sin)) != 0)
        return -1;
    return s;
}

static int is_devnull(int fd)
{
    struct stat a, b;

    return fstat(fd, &a) == 0 && stat("/dev/null", &b) == 0
           && S_ISCHR(a.st_mode) && a.st_rdev == b.st_rdev;
}

static int is_socket(int fd)
{
    struct stat st;

    return fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
}

static void *reader(void *arg)
{
    char c;
    long n = read(*(int *)arg, &c, 1);

    return (void *)n;
}

int main(void)
{
    apr_pool_t *p;
    opf_peers_t peers, none, list;
    int pa, pb, la, lb, a1, a2, b1, acc, st, pipefd[2];
    pid_t pid;
    char spec[128];

    apr_initialize();
    apr_pool_create(&p, NULL);
    memset(&peers, 0, sizeof(peers));
    memset(&none, 0, sizeof(none));
    memset(&list, 0, sizeof(list));

    la = listener(&pa);
    lb = listener(&pb);
    ok(la >= 0 && lb >= 0, "two loopback listeners");
    a1 = dial(pa);
    a2 = dial(pa);
    b1 = dial(pb);
    ok(a1 >= 0 && a2 >= 0 && b1 >= 0, "two connections to A, one to B");

    ok(opf_peers_add(&peers, "127.0.0.1", (apr_port_t)pa, p) == APR_SUCCESS
           && peers.n == 1,
       "peer A added");
    ok(opf_peers_match_fd(&peers, a1) && opf_peers_match_fd(&peers, a2),
       "both connections to A match");
    ok(!opf_peers_match_fd(&peers, b1), "the connection to B does not");
    ok(!opf_peers_match_fd(&peers, la), "A's listener does not (no peer)");
    snprintf(spec, sizeof(spec), "127.0.0.1:%d, localhost:%d,/run/x.sock", pb,
             pb);
    ok(opf_peers_add_list(&list, spec, 6379, p) == APR_SUCCESS && list.n >= 2,
       "a provider's server list: addresses of both names, "
       "the Unix socket skipped");
    ok(opf_peers_match_fd(&list, b1) && !opf_peers_match_fd(&list, a1),
       "the list matches B only");
    memset(&list, 0, sizeof(list));
    ok(opf_peers_add_list(&list, "127.0.0.1", 6379, p) == APR_SUCCESS
           && list.n == 1
           && ntohs(((struct sockaddr_in *)&list.addr[0])->sin_port) == 6379,
       "no port: the provider's default");
    ok(opf_peers_add_list(&list, "no-such-host.invalid:1", 1, p)
           != APR_SUCCESS,
       "a name that does not resolve is an error");

    is_int(opf_peers_cover(&none, 0), 0, "no peers: nothing covered");

    /* the forked child: A's connections covered, B's untouched */
    if (pipe(pipefd) != 0)
        return 1;
    pid = fork();
    if (pid == 0) {
        int covered = opf_peers_cover(&peers, 0);
        char r = (char)((covered == 2) | (is_devnull(a1) << 1)
                        | (is_devnull(a2) << 2) | (is_socket(b1) << 3)
                        | (is_socket(la) << 4));
        if (write(pipefd[1], &r, 1) != 1)
            _exit(1);
        _exit(0);
    }
    else {
        char r = 0;

        close(pipefd[1]);
        ok(read(pipefd[0], &r, 1) == 1, "the child reports");
        ok(r & 1, "child: two descriptors covered");
        ok((r & 6) == 6, "child: both connections to A are /dev/null now");
        ok(r & 8, "child: the connection to B is still a socket");
        ok(r & 16, "child: the listener is still a socket");
        waitpid(pid, &st, 0);
        close(pipefd[0]);
    }
    ok(is_socket(a1) && opf_peers_match_fd(&peers, a1),
       "parent: its connection to A is untouched by the child's cover");

    /* a connect in progress at the fork: the socket has no peer yet */
    {
        int fresh = socket(AF_INET, SOCK_STREAM, 0);
        int udp = socket(AF_INET, SOCK_DGRAM, 0);

        if (pipe(pipefd) != 0)
            return 1;
        pid = fork();
        if (pid == 0) {
            int plain = opf_peers_cover(&peers, 0);
            int fresh_after_plain = is_socket(fresh);
            int covered = opf_peers_cover(&peers, 1);
            char r = (char)((plain == 2) | (fresh_after_plain << 1)
                            | ((covered == 1) << 2) | (is_devnull(fresh) << 3)
                            | (is_socket(la) << 4) | (is_socket(b1) << 5)
                            | (is_socket(udp) << 6));
            if (write(pipefd[1], &r, 1) != 1)
                _exit(1);
            _exit(0);
        }
        else {
            char r = 0;

            close(pipefd[1]);
            ok(read(pipefd[0], &r, 1) == 1, "the second child reports");
            ok((r & 3) == 3, "without unconnected: the unconnected socket "
                             "is left alone");
            ok(r & 4, "with unconnected: exactly one more covered");
            ok(r & 8, "... the unconnected TCP socket");
            ok((r & 0x70) == 0x70, "... not the listener, not the "
                                   "connection to B, not a UDP socket");
            waitpid(pid, &st, 0);
            close(pipefd[0]);
        }
        close(fresh);
        close(udp);
    }

    /* a reader blocked on A's connection gets EOF at shutdown */
    acc = accept(la, NULL, NULL);
    {
        pthread_t t;
        void *res = (void *)-2;
        int n;

        pthread_create(&t, NULL, reader, &a1);
        usleep(100 * 1000);
        n = opf_peers_shutdown(&peers);
        is_int(n, 2, "shutdown: both connections to A");
        pthread_join(t, &res);
        ok((long)res == 0, "the blocked reader got EOF");
        ok(is_socket(a1), "the descriptor stays open (a socket, shut down)");
    }
    close(acc);
    close(a1);
    close(a2);
    close(b1);
    close(la);
    close(lb);
    apr_pool_destroy(p);
    apr_terminate();
    return done_testing();
}
