# Restart and stop stay fast while fetches are in flight (issue 3, item 3).
#
# 1. Every certificate's responder accepts and never answers (/hang/, with
#    OCSPPrefetchTimeout 60 so the fetch is still hanging when we act): three
#    rounds of start; the log shows "fetching" without a result for every
#    certificate and the responder saw the hanging requests; `-k graceful`
#    completes (new generation logged, first handshake answered) within 2 s;
#    the fetch was in flight when the parent took the signal; the parent's
#    thread count is unchanged (no thread outlives its generation); the new
#    generation's thread is hanging again; `-k stop` completes (parent gone)
#    within 2 s, with the fetch in flight at SIGTERM.
# 2. Eight certificates whose responder takes 1 s per answer (/delay=1+short/,
#    60-second responses, OCSPPrefetchRenewWindow 59s: each is fetched again
#    as soon as allowed), so fetches are in flight at any moment: three rounds
#    of start, graceful within 2 s (first handshake after it stapled), stop
#    within 2 s, each with fetches in flight at the signal. On a slow disk:
#    t/bin/slowdisk.c is preloaded into httpd and makes every fsync-like call
#    take 3 s more (a busy disk's journal commit), while every response is
#    written to the store; neither restarts nor fetching may wait on it.
# A private responder (own port and log): independent of the suite-wide one.
use strict;
use warnings;
use FindBin; use lib "$FindBin::Bin/../lib";
use Apache::Test qw(-withtestmore);
use Time::HiRes qw(time sleep);
use OCSPTest qw(module_built wait_until leaf_serial count_requests free_port work_dir t_dir slurp);
use OCSPTest::Httpd;
use OCSPTest::Responder;
use OCSPTest::Lifecycle qw(timed_graceful timed_stop in_flight GRACEFUL_RE STOP_RE);

my $ROUNDS = 3;
my $BOUND = 2;     # seconds, issue 3 item 3
plan tests => $ROUNDS * 9 + 1 + $ROUNDS * 9,
    need { 'module not built (stand-in run)' => module_built() };

my $rlog = work_dir() . "/responder-20.log";
unlink $rlog;
my $resp = OCSPTest::Responder->start(port => free_port(), log => $rlog, lifetime => 300);
my $rp = $resp->port;
my $crash_re = qr/exit signal|Segmentation|AH00052|still did not exit/;

# ---------------------------------------------------------------- 1. hang
{
    my @leaves = qw(hang timeout drop);
    my %serial = map { $_ => leaf_serial($_) } @leaves;
    my $h = OCSPTest::Httpd->new(name => 'restart-hang',
        global => "OCSPPrefetchTimeout 60\nOCSPPrefetchStartupWait 0\nOCSPPrefetchRetryDelay 1s\n",
        vhosts => [ map { { name => $_, conf => "OCSPPrefetch on\nOCSPPrefetchResponder http://127.0.0.1:$rp/hang/\n" } } @leaves ]);

    # every certificate: the newest thread's last event is "fetching" and the
    # responder holds a hanging request for it made after $roff
    my $all_hanging = sub {
        my ($roff) = @_;
        my %f = map { $_ => 1 } in_flight($h);
        !grep { !$f{$serial{$_}}
                || !count_requests(log => $rlog, off => $roff, serial => $serial{$_}, mode => 'hang') } @leaves;
    };

    for my $round (1 .. $ROUNDS) {
        my $roff = -s $rlog || 0;
        my $up = eval { $h->start(timeout => 20) };
        ok(defined $up, "hang round $round: httpd starts") or diag($@);
        ok(wait_until(10, sub { $all_hanging->($roff) }, 0.05),
           "... every certificate's fetch is hanging (log: fetching, no result; responder: hang)");

        my $threads = $h->threads;
        my $pid = $h->pid;
        my $off = -s $h->error_log;
        $roff = -s $rlog || 0;
        my $g = timed_graceful($h);
        ok($g->{ok} && $g->{took} < $BOUND,
           sprintf("... -k graceful completes within %d s: %.3f s (new generation after %.3f s)",
                   $BOUND, $g->{took} // -1, $g->{to_generation} // -1))
            or diag($g->{error} // '', $h->log_tail);
        my @at_signal = in_flight($h, before => GRACEFUL_RE);
        is(scalar @at_signal, scalar @leaves, "... all " . @leaves . " fetches were in flight when the parent took SIGUSR1");
        my $n;
        wait_until(5, sub { $n = $h->threads; defined $n && $n == $threads }, 0.05);
        ok($h->pid == $pid && $n == $threads, "... same parent, thread count unchanged ($threads)");

        ok(wait_until(10, sub { $all_hanging->($roff) }, 0.05),
           "... the new generation's thread is hanging on every certificate again");
        my $s = timed_stop($h);
        ok($s->{ok} && $s->{took} < $BOUND,
           sprintf("... -k stop completes within %d s: %.3f s", $BOUND, $s->{took}));
        my @at_term = in_flight($h, before => STOP_RE);
        is(scalar @at_term, scalar @leaves, "... all fetches were in flight at SIGTERM");
        unlike($h->log_content, $crash_re, "... no crash, no child that would not exit");
    }
}

# ---------------------------------------------------- 2. slow, many certificates
{
    my @leaves = qw(good short delay graceful startup stapling post get);
    my $shim = work_dir() . "/slowdisk.so";
    my $shim_log = work_dir() . "/slowdisk-20.log";
    unlink $shim, $shim_log;
    system("cc -shared -fPIC -o '$shim' '" . t_dir() . "/bin/slowdisk.c' -ldl") == 0
        or BAIL_OUT("cannot build t/bin/slowdisk.c");
    my $h = OCSPTest::Httpd->new(name => 'restart-delay',
        env => { LD_PRELOAD => $shim, SLOWDISK_LOG => $shim_log, SLOWDISK_MS => 3000 },
        global => "OCSPPrefetchTimeout 10\nOCSPPrefetchStartupWait 5\nOCSPPrefetchRetryDelay 1s\n"
                . "OCSPPrefetchRenewWindow 59s\n",
        vhosts => [ map { { name => $_, conf => "OCSPPrefetch on\nOCSPPrefetchResponder http://127.0.0.1:$rp/delay=1+short/\n" } } @leaves ]);

    for my $round (1 .. $ROUNDS) {
        my $up = eval { $h->start(timeout => 20) };
        ok(defined $up, "delay round $round: httpd starts (" . @leaves . " certificates)") or diag($@);
        my @f;
        ok(wait_until(10, sub { @f = in_flight($h); @f >= 2 }, 0.05),
           "... fetches in flight before graceful (" . scalar(@f) . ")");

        my $threads = $h->threads;
        my $g = timed_graceful($h);
        ok($g->{ok} && $g->{took} < $BOUND,
           sprintf("... -k graceful completes within %d s: %.3f s (new generation after %.3f s)",
                   $BOUND, $g->{took} // -1, $g->{to_generation} // -1))
            or diag($g->{error} // '', $h->log_tail);
        ok($g->{handshake} && defined $g->{handshake}{der}, '... the first handshake after it carries a staple');
        my @at_signal = in_flight($h, before => GRACEFUL_RE);
        ok(@at_signal >= 1, "... " . scalar(@at_signal) . " fetch(es) were in flight when the parent took SIGUSR1");
        my $n;
        wait_until(5, sub { $n = $h->threads; defined $n && $n == $threads }, 0.05);
        is($n, $threads, "... thread count unchanged ($threads)");

        wait_until(10, sub { @f = in_flight($h); @f >= 2 }, 0.05);
        my $s = timed_stop($h);
        ok($s->{ok} && $s->{took} < $BOUND,
           sprintf("... -k stop completes within %d s: %.3f s", $BOUND, $s->{took}));
        my @at_term = in_flight($h, before => STOP_RE);
        ok(@at_term >= 1, "... " . scalar(@at_term) . " fetch(es) were in flight at SIGTERM");
        unlike($h->log_content, $crash_re, "... no crash, no child that would not exit");
    }
    my $shim_calls = slurp($shim_log) // '';
    my $waits = () = $shim_calls =~ /^\d+ (?!loaded)/mg;
    ok($shim_calls =~ /^\d+ loaded$/m,
       "the slow-disk shim was loaded into httpd ($waits slowed call(s) to fsync and the like)");
}

$resp->stop;
