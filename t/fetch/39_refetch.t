# Refetch on demand (issue 16, item 3): with OCSPPrefetchStatusRefetch on,
# a POST to the status page with ?refetch=KEY or ?refetch=all makes those
# certificates due at once (the prefetch thread polls the shared status
# table every second); the per-host limit applies as to any fetch.
#
# Three certificates whose responses are valid a day (no renewal due for
# hours), one responder host, OCSPPrefetchMaxPerHost 1, the responder
# delaying every answer by 1 s:
#   - ?refetch=KEY: exactly that certificate is fetched again within 5 s,
#     the others not; the answer is 202;
#   - ?refetch=all: each is fetched again, one at a time (the responder's
#     log shows them at least ~1 s apart: the per-host limit holds);
#   - a POST carrying another site's Origin (CSRF from a browser) is
#     refused (403), a GET ?refetch=all is not a refetch (405), an
#     unknown key is 404, nothing is fetched for them;
#   - on a server without the directive: 403, nothing fetched.
# Teeth: without check_refetch in the engine the refetches never happen
# (tests 2 and 4 fail).
use strict;
use warnings;
use FindBin; use lib "$FindBin::Bin/../lib";
use Apache::Test qw(-withtestmore);
use Time::HiRes qw(time sleep);
use OCSPTest qw(module_built wait_until responder_port responder_log free_port log_size leaf_serial);
use OCSPTest::Httpd;
use OCSPTest::Status qw(status_vhost http_get status_json);

plan tests => 11, need { 'module not built (stand-in run)' => module_built() };

my $rp = responder_port();
my @NAMES = qw(good dflt get);
my %serial = map { ($_ => leaf_serial($_)) } @NAMES;
my $MODE = 'delay=1';

sub server {
    my ($name, $sport, $on) = @_;
    return OCSPTest::Httpd->new(name => $name, mpm => 'event',
        global => ($on ? "OCSPPrefetchStatusRefetch on\n" : '')
                . "OCSPPrefetchMaxPerHost 1\n" . status_vhost($sport),
        vhosts => [ map { { name => $_,
            conf => "OCSPPrefetch on\nOCSPPrefetchResponder http://127.0.0.1:$rp/$MODE/\n" } } @NAMES ]);
}
sub requests {
    my ($off, $name) = @_;
    return OCSPTest::responder_requests(off => $off, mode => $MODE, serial => $serial{$name});
}
sub stapled_all {
    my $h = shift;
    !grep { my $g = $h->staple($_, timeout => 5); !($g->{ok} && defined $g->{der}) } @NAMES;
}

my $sport = free_port();
my $h = server('refetch-on', $sport, 1);
$h->start;
ok(wait_until(20, sub { stapled_all($h) }, 0.25), 'three certificates stapled');
my $j = status_json($sport);
my %key = map { ((split /\./, $_->{vhosts}[0])[0] => $_->{key}) } @{ $j->{certificates} };

# --- one certificate -----------------------------------------------------------
my $off = log_size(responder_log());
my $r = http_get($sport, "/ocsp-status?refetch=$key{dflt}", method => 'POST');
my $got = wait_until(5, sub { scalar requests($off, 'dflt') }, 0.1);
sleep 1.5;
ok($r->{status} == 202 && $got && requests($off, 'dflt') == 1
   && !requests($off, 'good') && !requests($off, 'get'),
   "POST ?refetch=KEY: 202, that certificate fetched again at once, the others not ($r->{status})")
    or diag("answer: $r->{status} $r->{content}");
like($r->{content}, qr/refetch requested: 1 certificate/, '... the answer says so');

# --- all ---------------------------------------------------------------------------
$off = log_size(responder_log());
$r = http_get($sport, '/ocsp-status?refetch=all', method => 'POST');
my $all = wait_until(15, sub { !grep { !requests($off, $_) } @NAMES }, 0.1);
ok($r->{status} == 202 && $all, 'POST ?refetch=all: every certificate fetched again');
my @t = sort { $a <=> $b } map { $_->{time} } map { requests($off, $_) } @NAMES;
my $min_gap = 99;
$min_gap = $t[$_] - $t[$_ - 1] < $min_gap ? $t[$_] - $t[$_ - 1] : $min_gap for 1 .. $#t;
ok(@t == 3 && $min_gap >= 0.8, sprintf('... one at a time to the responder host (OCSPPrefetchMaxPerHost 1: '
                                       . 'requests at least %.1f s apart)', $min_gap));
ok(stapled_all($h), '... and all still stapled');

# --- refused ----------------------------------------------------------------------
sleep 1;
$off = log_size(responder_log());
my $csrf = http_get($sport, '/ocsp-status?refetch=all', method => 'POST',
                    headers => { Origin => 'http://evil.example' });
is($csrf->{status}, 403, "a POST with another site's Origin is refused");
my $get = http_get($sport, '/ocsp-status?refetch=all');
is($get->{status}, 200, 'a GET ?refetch=all is only the status page');
my $unknown = http_get($sport, '/ocsp-status?refetch=' . ('ab' x 32), method => 'POST');
is($unknown->{status}, 404, 'an unknown key: 404');
sleep 3;
is(scalar(map { requests($off, $_) } @NAMES), 0, '... and none of them fetched anything');
$h->stop;

# --- off by default -------------------------------------------------------------
my $sport2 = free_port();
my $h2 = server('refetch-off', $sport2, 0);
$h2->start;
wait_until(20, sub { stapled_all($h2) }, 0.25);
$off = log_size(responder_log());
my $off_r = http_get($sport2, '/ocsp-status?refetch=all', method => 'POST');
sleep 3;
ok($off_r->{status} == 403 && !scalar(map { requests($off, $_) } @NAMES),
   "without OCSPPrefetchStatusRefetch: 403, nothing fetched ($off_r->{status})");
$h2->stop;
