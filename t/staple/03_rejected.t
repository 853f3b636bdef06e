# Responses that must be rejected: never a staple, and the error log names
# each certificate with "rejected" or a fetch failure.
use strict;
use warnings;
use FindBin; use lib "$FindBin::Bin/../lib";
use Apache::Test qw(-withtestmore);
use OCSPTest qw(module_built wait_until slurp count_fetches count_requests leaf_serial);
use OCSPTest::Main qw(staple error_log);

# vhost => responder mode it is pointed at
my %mode = (wrongkey => 'wrongkey', othercert => 'othercert', expired => 'expired',
            future => 'future', nonext => 'nonext', unknown => 'good',
            trylater => 'trylater', garbage => 'garbage', truncated => 'truncated',
            http500 => 'http500');
# vhost => what the log line must give as the reason (the validation step
# that refused it, not any failure: a test that accepted "rejected|fail" for
# every case could not tell a signature check from a parse error)
my %why = (wrongkey  => qr/rejected OCSP response: bad signature/,
           othercert => qr/rejected OCSP response: no SingleResponse for this certificate/,
           expired   => qr/rejected OCSP response: expired/,
           future    => qr/rejected OCSP response: thisUpdate in the future/,
           nonext    => qr/rejected OCSP response: no nextUpdate/,
           unknown   => qr/rejected OCSP response: certificate status unknown/,
           trylater  => qr/rejected OCSP response: responder status tryLater/,
           garbage   => qr/rejected OCSP response: not a DER OCSPResponse/,
           truncated => qr/rejected OCSP response: not a DER OCSPResponse/,
           http500   => qr/OCSP fetch failed: HTTP status 500/);
my @names = sort keys %mode;

plan tests => 5 * @names, need { 'module not built (stand-in run)' => module_built() };

sub lines_for {
    my $n = shift;
    my $log = slurp(error_log()) // '';
    grep { /\b\Q$n\E\.test\b/ && /rejected|fail/i } split /\n/, $log;
}

for my $n (@names) {
    # bounded wait: the prefetcher tries at startup and retries every 1-5 s
    my $found = wait_until(20, sub { scalar lines_for($n) }, 0.25);
    ok($found, "$n.test: error log names it with 'rejected' or a fetch failure")
        or diag("no matching line for $n.test");
    my ($line) = lines_for($n);
    diag("$n: $line") if $line && $ENV{TEST_VERBOSE};
    my @why = grep { $_ =~ $why{$n} } lines_for($n);
    ok(@why, "$n.test: the reason is given ($why{$n})") or diag(join "\n", lines_for($n));
    ok(count_requests(mode => $mode{$n}, serial => leaf_serial($n)) > 0,
       "$n.test: responder was asked for it (/$mode{$n}/, serial " . leaf_serial($n) . ")");
    my @g = map { (staple($n))[0] } 1 .. 3;
    ok(!(grep { !$_->{ok} } @g), "$n.test: handshakes succeed");
    ok(!(grep { defined $_->{der} } @g), "$n.test: never a staple");
}
