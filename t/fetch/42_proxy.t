# OCSPPrefetchProxy / OCSPPrefetchNoProxy (issue 16, item 1), through a
# real forward proxy of the suite (t/bin/http-proxy.pl, loopback only,
# Basic authentication, logs what it forwards but never the password).
#
# For the helper (OCSPPrefetchPrivsep on) and the parent's own fetches
# (off):
#   - good.test (responder http://127.0.0.1:RP/good/) is fetched through
#     the proxy: the proxy logged the absolute URL, with the right
#     credentials; the staple verifies;
#   - dflt.test's responder is http://localhost:RP/good/ and
#     "OCSPPrefetchNoProxy localhost": fetched directly, the proxy never
#     saw it; still stapled;
#   - the password is in no log line and not on the status page.
# A server whose proxy password is wrong: the proxy answers 407, the
# failure is counted as reason "proxy" (JSON and Prometheus) and its
# message says to check the credentials; nothing is stapled.
# A configuration error for an https:// proxy or one with a path.
# Teeth: with OCSPPrefetchProxy ignored, the proxy sees nothing (tests 2
# and 8 fail).
use strict;
use warnings;
use FindBin; use lib "$FindBin::Bin/../lib";
use Apache::Test qw(-withtestmore);
use POSIX qw(setsid :sys_wait_h);
use IO::Socket::INET;
use Time::HiRes qw(time sleep);
use OCSPTest qw(module_built wait_until responder_port free_port slurp log_size t_dir work_dir leaf_serial);
use OCSPTest::Httpd;
use OCSPTest::Client qw(verify_staple);
use OCSPTest::Status qw(status_vhost status_json http_get);

plan tests => 15, need { 'module not built (stand-in run)' => module_built() };

my $rp = responder_port();
my $pport = free_port();
my $plog = work_dir() . "/proxy-$pport.log";
unlink $plog;
my $ppid = fork // die;
if (!$ppid) {
    setsid();
    open STDIN, '<', '/dev/null';
    open STDOUT, '>>', "$plog.out";
    open STDERR, '>&', \*STDOUT;
    exec $^X, t_dir() . '/bin/http-proxy.pl', '--port', $pport, '--log', $plog,
        '--auth', 'opf:s3cr%t', '--lifetime', 300;
    exit 127;
}
END { local $?; if ($ppid) { kill 'TERM', $ppid; waitpid $ppid, 0 } }
wait_until(10, sub { IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $pport, Proto => 'tcp') }, 0.05);

sub proxy_lines { my $off = shift; OCSPTest::log_lines($plog, undef, $off) }

for my $privsep (1, 0) {
    my $label = $privsep ? 'helper' : 'parent';
    my $sport = free_port();
    my $poff = log_size($plog);
    # %25 is "%": the password is s3cr%t
    my $h = OCSPTest::Httpd->new(name => "t42-proxy-$label",
        global => "OCSPPrefetchProxy http://opf:s3cr%25t\@127.0.0.1:$pport\n"
                . "OCSPPrefetchNoProxy localhost .example.org\n"
                . ($privsep ? '' : "OCSPPrefetchPrivsep off\n") . status_vhost($sport),
        vhosts => [ { name => 'good', conf => "OCSPPrefetch on\nOCSPPrefetchResponder http://127.0.0.1:$rp/good/\n" },
                    { name => 'dflt', conf => "OCSPPrefetch on\nOCSPPrefetchResponder http://localhost:$rp/good/\n" } ]);
    $h->start;
    my %v;
    for my $n (qw(good dflt)) {
        wait_until(15, sub {
            my $g = $h->staple($n, timeout => 3);
            $v{$n} = $g->{der} ? verify_staple($g->{der}, $n) : {};
            $v{$n}{verify_ok} && ($v{$n}{status} // '') eq 'good';
        }, 0.25);
    }
    ok($v{good}{verify_ok} && ($v{good}{status} // '') eq 'good', "$label: good.test stapled, fetched through the proxy");
    my @via = grep { m{ http://127\.0\.0\.1:$rp/good/\S* ok 200$} } proxy_lines($poff);
    ok(scalar @via, "$label: the proxy forwarded good.test's request (absolute URL, credentials right)")
        or diag(join "\n", proxy_lines($poff));
    ok($v{dflt}{verify_ok} && !grep({ m{localhost} } proxy_lines($poff)),
       "$label: dflt.test (responder host localhost, OCSPPrefetchNoProxy) fetched directly");
    my @fetch = $h->log_lines(qr/good\.test.*fetching OCSP response .* through the proxy http:\/\/127\.0\.0\.1:$pport\//);
    ok(scalar @fetch, "$label: the debug log says it went through the proxy (without credentials)");
    my $page = http_get($sport, '/ocsp-status?json')->{content} // '';
    ok(index($h->log_content, 's3cr') < 0 && index($page, 's3cr') < 0 && index($page, 'opf:') < 0,
       "$label: the password is in no log line and not on the status page");
    $h->stop;
}

# --- a wrong password: 407, its own failure reason ---------------------------
my $sport = free_port();
my $h = OCSPTest::Httpd->new(name => 't42-proxy-407',
    global => "OCSPPrefetchProxy http://opf:wrong\@127.0.0.1:$pport\nOCSPPrefetchStartupWait 0\n"
            . status_vhost($sport),
    vhosts => [ { name => 'good', conf => "OCSPPrefetch on\nOCSPPrefetchResponder http://127.0.0.1:$rp/good/\n" } ]);
$h->start;
my $j;
wait_until(15, sub { $j = eval { status_json($sport) }; $j && ($j->{certificates}[0]{fetches}{failed}{proxy} // 0) >= 1 }, 0.25);
my $c = $j ? $j->{certificates}[0] : {};
ok(($c->{fetches}{failed}{proxy} // 0) >= 1 && ($c->{status} // '') eq 'none',
   'wrong password: the failure counted as reason "proxy", nothing stapled');
like($c->{last_error} // '', qr/407.*check the credentials in OCSPPrefetchProxy/, '... and the error says what to change');
my $prom = http_get($sport, '/ocsp-status?prometheus')->{content} // '';
like($prom, qr/^ocsp_prefetch_fetches_total\{result="failed",reason="proxy"\} [1-9]/m, '... Prometheus counts it under reason="proxy"');
$h->stop;

# --- configuration errors ------------------------------------------------------
for my $bad ([ 'https://127.0.0.1:3128', 'https' ], [ "http://127.0.0.1:$pport/path", 'a path' ]) {
    my $b = OCSPTest::Httpd->new(name => 't42-proxy-bad', global => "OCSPPrefetchProxy $bad->[0]\n",
        vhosts => [ { name => 'good', conf => "OCSPPrefetch on\n" } ]);
    my $out = $b->configtest;
    like($out // '', qr/OCSPPrefetchProxy/, "OCSPPrefetchProxy with $bad->[1] fails the configuration test, naming the directive");
}
