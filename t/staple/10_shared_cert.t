# The same certificate in three vhosts (three ServerNames, one port each) is
# registered once: one "prefetching ... for 1 certificate" line, and the
# responder sees exactly one request for its serial per refresh round (60 s
# responses, 58 s renew window: a round every 1-2 s), never two at once.  All
# three vhosts staple it.
use strict;
use warnings;
use FindBin; use lib "$FindBin::Bin/../lib";
use Apache::Test qw(-withtestmore);
use Time::HiRes qw(time);
use OCSPTest qw(module_built wait_until responder_port leaf_serial responder_requests
                count_requests);
use OCSPTest::Httpd;
use OCSPTest::Client qw(verify_staple);

my @names = qw(shared1 shared2 shared3);
plan tests => 7 + 2 * @names, need { 'module not built (stand-in run)' => module_built() };

my $rp = responder_port();
my $serial = leaf_serial('shared');
my $ROUNDS = 4;

my $h = OCSPTest::Httpd->new(name => 'shared',
    global => "OCSPPrefetchRenewWindow 58s\nOCSPPrefetchRetryDelay 1s 1s\n",
    vhosts => [ map { { name => $_, leaf => 'shared', servername => "$_.example",
                        conf => "OCSPPrefetch on\nOCSPPrefetchResponder http://127.0.0.1:$rp/short/\n" } }
                @names ]);
my $roff = -s OCSPTest::responder_log() || 0;
$h->start;

# the startup summary line ("started: N certificates to staple, ..." or
# "prefetching OCSP responses for N certificates; ...")
my @info = $h->log_lines(qr/\[ocsp_prefetch:info\].*\b\d+ certificates?(?: to staple|;|:)/);
is(scalar @info, 1, 'one startup summary line (one generation)') or diag(join "\n", @info);
like($info[0] // '', qr/\b1 certificate(?: to staple|;|:)/, '... counting 1 certificate, not 3');

for my $n (@names) {
    my $g = $h->staple($n);
    ok($g->{ok} && defined $g->{der}, "$n.example is stapled");
    my $v = $g->{der} ? verify_staple($g->{der}, 'shared') : {};
    ok($v->{verify_ok} && ($v->{status} // '') eq 'good', "... with a good staple for the shared certificate")
        or diag($v->{text} // '');
}

my @r;
wait_until(30, sub { @r = responder_requests(off => $roff, serial => $serial); @r >= $ROUNDS }, 0.25);
ok(@r >= $ROUNDS, scalar(@r) . " requests for serial $serial seen (want >= $ROUNDS rounds)");
# one request per round: consecutive requests are at least RetryDelay (1 s,
# jittered down to 0.8 s) apart; a certificate registered three times would
# be asked three times within milliseconds.
my @t = map { $_->{time} } @r;
my @gaps = map { $t[$_] - $t[$_ - 1] } 1 .. $#t;
my $min = @gaps ? (sort { $a <=> $b } @gaps)[0] : 0;
ok(@gaps && $min >= 0.5, sprintf('one request per round: smallest gap between requests %.3f s', $min))
    or diag(join "\n", map { $_->{line} } @r);
# startup: exactly one request in the first round
my @first = grep { $_->{time} < $t[0] + 0.5 } @r;
is(scalar @first, 1, 'exactly one request in the first round');
is(scalar(grep { $_->{method} ne 'GET' || $_->{status} ne '200' } @r), 0, 'all GET, all answered 200');
ok($h->stop, 'server stops');
