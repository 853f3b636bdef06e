# Own httpd: staple; `-k graceful` three times; the first handshake after each
# restart carries the staple; the parent's thread count is unchanged (no leaked
# prefetch thread); no crash in the error log.
use strict;
use warnings;
use FindBin; use lib "$FindBin::Bin/../lib";
use Apache::Test qw(-withtestmore);
use OCSPTest qw(module_built wait_until responder_port);
use OCSPTest::Httpd;
use OCSPTest::Client qw(get_staple verify_staple);

plan tests => 4 + 4 * 3 + 2, need { 'module not built (stand-in run)' => module_built() };

my $rp = responder_port();
my $h = OCSPTest::Httpd->new(name => 'graceful',
    global => "OCSPPrefetchRetryDelay 1s 2s\n",
    vhosts => [ { name => 'graceful', conf => "OCSPPrefetch on\nOCSPPrefetchResponder http://127.0.0.1:$rp/good/\n" } ]);
$h->start;
my $pid = $h->pid;
ok($pid, 'httpd running');

my $g;
wait_until(15, sub { $g = get_staple(port => $h->port('graceful'), sni => 'graceful.test');
                     defined $g->{der} }, 0.25);
ok(defined $g->{der}, 'staple before any restart');
my $v = $g->{der} ? verify_staple($g->{der}, 'graceful') : {};
ok($v->{verify_ok} && ($v->{status} // '') eq 'good', 'staple verifies, good') or diag($v->{text} // '');

# the thread count settles once the prefetcher is idle
my $threads = $h->threads;
ok($threads && $threads >= 2, "parent has the prefetch thread ($threads threads)");

for my $i (1 .. 3) {
    my $t = eval { $h->graceful(timeout => 20) };
    ok(defined $t, "graceful restart $i completes") or diag($@);
    is($h->pid, $pid, "... same parent pid");
    my $g = get_staple(port => $h->port('graceful'), sni => 'graceful.test');
    ok($g->{ok} && defined $g->{der}, "... first handshake after restart $i carries the staple");
    my $n;
    wait_until(5, sub { $n = $h->threads; defined $n && $n == $threads }, 0.1);
    is($n, $threads, "... parent thread count still $threads");
}

my $log = $h->log_content;
unlike($log, qr/exit signal|Segmentation|AH00052/, 'no child crashed (exit signal / Segmentation)');
ok($h->stop, 'httpd stops');
