# Responses that must be rejected: never a staple, and the error log names
# each certificate with "rejected" or a fetch failure.
use strict;
use warnings;
use FindBin; use lib "$FindBin::Bin/lib";
use Apache::Test qw(-withtestmore);
use OCSPTest qw(module_built wait_until slurp count_fetches);
use OCSPTest::Main qw(staple error_log);

# vhost => responder mode it is pointed at
my %mode = (wrongkey => 'wrongkey', othercert => 'othercert', expired => 'expired',
            future => 'future', nonext => 'nonext', unknown => 'good',
            trylater => 'trylater', garbage => 'garbage', truncated => 'truncated',
            http500 => 'http500');
my @names = sort keys %mode;

plan tests => 4 * @names, need { 'module not built (stand-in run)' => module_built() };

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
    ok(count_fetches($mode{$n}) > 0, "$n.test: responder was asked (/$mode{$n}/)");
    my @g = map { (staple($n))[0] } 1 .. 3;
    ok(!(grep { !$_->{ok} } @g), "$n.test: handshakes succeed");
    ok(!(grep { defined $_->{der} } @g), "$n.test: never a staple");
}
