# GET or POST by the length of the RFC 6960 A.1 GET URL: the responder URL
# (OCSPPrefetchResponder, padded with an extra path segment the responder
# ignores) plus "/" when missing plus the url-encoded base64 request.  At
# exactly 255 bytes the module GETs; at 256 it POSTs (application/ocsp-request).
# Both staples are good.
use strict;
use warnings;
use FindBin; use lib "$FindBin::Bin/../lib";
use Apache::Test qw(-withtestmore);
use MIME::Base64 qw(encode_base64);
use OCSPTest qw(module_built wait_until responder_port leaf leaf_serial slurp
                responder_requests);
use OCSPTest::Httpd;
use OCSPTest::Client qw(verify_staple);

plan tests => 10, need { 'module not built (stand-in run)' => module_built() };

my $rp = responder_port();

# the responder URL whose GET URL for leaf $n is exactly $len bytes long
sub responder_for {
    my ($n, $len) = @_;
    my $der = slurp(leaf($n)->{req});       # SHA-1 CertID, no nonce: what the module sends
    (my $b64 = encode_base64($der, '')) =~ s{([+/=])}{sprintf '%%%02X', ord $1}ge;
    my $base = "http://127.0.0.1:$rp/good/";
    my $pad = $len - length($base) - length($b64) - 1;     # "<pad>/"
    die "cannot pad to $len" if $pad < 1;
    return $base . ('p' x $pad) . '/';
}
my %url = (getlimit => responder_for('getlimit', 255), longpost => responder_for('longpost', 256));

my $h = OCSPTest::Httpd->new(name => 'postget',
    vhosts => [ map { { name => $_, conf => "OCSPPrefetch on\nOCSPPrefetchResponder $url{$_}\n" } }
                qw(getlimit longpost) ]);
my $roff = -s OCSPTest::responder_log() || 0;
$h->start;

for my $n (qw(getlimit longpost)) {
    my $method = $n eq 'longpost' ? 'POST' : 'GET';
    my $g;
    wait_until(10, sub { $g = $h->staple($n); defined $g->{der} }, 0.25);
    ok(defined $g->{der}, "$n.test is stapled");
    my $v = $g->{der} ? verify_staple($g->{der}, $n) : {};
    ok($v->{verify_ok} && ($v->{status} // '') eq 'good', '... good staple that verifies') or diag($v->{text} // '');
    my @r = responder_requests(off => $roff, serial => leaf_serial($n));
    ok(@r >= 1, "$n: the responder was asked");
    is(scalar(grep { $_->{method} ne $method } @r), 0,
       "$n: GET URL of " . ($n eq 'longpost' ? 256 : 255) . " bytes: every request is a $method")
        or diag(join "\n", map { $_->{line} } @r);
}
my @fetch = grep { /fetching OCSP response by (GET|POST)/ } split /\n/, $h->log_content;
ok((grep { /\bgetlimit\.test\b/ && /by GET/ } @fetch) && (grep { /\blongpost\.test\b/ && /by POST/ } @fetch),
   'debug log says GET for getlimit.test and POST for longpost.test') or diag(join "\n", @fetch);
ok($h->stop, 'server stops');
