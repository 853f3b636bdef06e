# OCSPPrefetchTimeout 2 against a responder that accepts and never answers
# (/hang/): the failure "no complete answer within 2 s" is logged about 2 s
# after the fetch started (error-log timestamps), handshakes are served
# meanwhile, and `-k stop` while a fetch hangs completes within 2 s.
use strict;
use warnings;
use FindBin; use lib "$FindBin::Bin/../lib";
use Apache::Test qw(-withtestmore);
use Time::HiRes qw(time);
use OCSPTest qw(module_built wait_until responder_port leaf_serial count_requests
                log_lines log_time alive);
use OCSPTest::Httpd;

plan tests => 12, need { 'module not built (stand-in run)' => module_built() };

my $rp = responder_port();
my $serial = leaf_serial('timeout');
my $h = OCSPTest::Httpd->new(name => 'timeout',
    global => "OCSPPrefetchTimeout 2\nOCSPPrefetchStartupWait 1\nOCSPPrefetchRetryDelay 1s 1s\n",
    vhosts => [ { name => 'timeout', conf => "OCSPPrefetch on\nOCSPPrefetchResponder http://127.0.0.1:$rp/hang/\n" } ]);
my $roff = -s OCSPTest::responder_log() || 0;
my $up = $h->start;
ok($up < 1 + 3, sprintf('start bounded by StartupWait 1 s (%.2f s), not by the 2 s timeout', $up));

# handshakes keep being served while the fetch hangs
my ($slow, $fail, $n) = (0, 0, 0);
my $t_end = time + 3;
while (time < $t_end) {
    my $t0 = time;
    my $g = $h->staple('timeout', timeout => 5);
    $n++;
    $fail++ unless $g->{ok} && !defined $g->{der};
    $slow++ if time - $t0 >= 1;
}
# A handshake that waited for the hanging fetch would last until the fetch
# times out (2 s after it started); 1 s tells that apart from a loaded
# machine's hiccup.
is($fail, 0, "$n handshakes during the hang succeed, without a staple");
is($slow, 0, '... none took 1 s or more (waiting for the fetch would take up to its 2 s timeout)');

my @fail;
wait_until(10, sub { @fail = $h->log_lines(qr/no complete answer within/); @fail >= 1 }, 0.2);
ok(@fail >= 1, 'the timeout is logged');
like($fail[0] // '', qr/\btimeout\.test\b.*no complete answer within 2 s/, '... naming the certificate and "within 2 s"');
my ($start) = $h->log_lines(qr/timeout\.test.*fetching OCSP response by/);
my $dt = (log_time($fail[0]) // 0) - (log_time($start) // 0);
ok($start && $dt >= 1.5 && $dt <= 5, sprintf('... %.3f s after the fetch started (want 1.5-5 s)', $dt))
    or diag("start: " . ($start // 'none') . "\nfail: " . ($fail[0] // 'none'));
ok(count_requests(off => $roff, serial => $serial, mode => 'hang') >= 1, 'the responder saw the hanging request');

# stop while a fetch hangs: wait for a fresh hanging request, then stop at once.
# ("gone" = exited, zombie or not: PID 1 may take seconds to reap it.)  The
# module's part comes after the parent logs "caught SIGTERM" (the pconf
# cleanup joins the prefetch thread): bounded tightly, as a thread that waited
# for the hung fetch would add up to the 2 s timeout there.
my $c = count_requests(off => $roff, serial => $serial, mode => 'hang');
ok(wait_until(10, sub { count_requests(off => $roff, serial => $serial, mode => 'hang') > $c }, 0.05),
   'a new fetch is hanging');
my $pid = $h->pid;
my $t0 = time;
$h->_run('-k', 'stop');
my $gone = wait_until(10, sub { !alive($pid) }, 0.01);
my $took = time - $t0;
ok($gone, 'httpd stops');
my $gone_at = $t0 + $took;
ok($took < 2, sprintf('-k stop with a hanging fetch completes within 2 s (%.2f s)', $took));
my ($term) = $h->log_lines(qr/caught SIGTERM, shutting down/);
my $tail = $term ? $gone_at - log_time($term) : 99;
ok($term && $tail < 0.5, sprintf('... the parent exits %.3f s after "caught SIGTERM" (thread stop does not wait on the fetch)', $tail));
unlike($h->log_content, qr/exit signal|Segmentation|AH00052|child process \d+ still did not exit/,
       'no crash, no child that would not exit');
