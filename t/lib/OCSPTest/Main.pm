package OCSPTest::Main;
# Helpers for tests against the main Apache-Test server (t/conf/extra.conf.in).
use strict;
use warnings;
use Apache::Test ();
use OCSPTest qw(wait_until log_since);
use OCSPTest::Client qw(get_staple verify_staple);
use Exporter 'import';
our @EXPORT_OK = qw(vport error_log staple wait_staple);

# port Apache-Test allocated to <VirtualHost NAME>
sub vport {
    my $name = shift;
    my $p = Apache::Test::vars("${name}_port") || Apache::Test::config()->port($name);
    die "no port for vhost $name" unless $p;
    $p;
}

sub error_log { Apache::Test::vars('t_logs') . '/error_log' }

# One handshake to vhost NAME (SNI NAME.test); returns (get_staple result,
# verify result or undef)
sub staple {
    my $name = shift;
    my $g = get_staple(port => vport($name), sni => "$name.test");
    return ($g, ($g->{ok} && defined $g->{der}) ? verify_staple($g->{der}, $name) : undef);
}

# Poll until a handshake to NAME carries a staple (bounded); returns like staple()
sub wait_staple {
    my ($name, $timeout) = @_;
    my @r;
    wait_until($timeout || 15, sub { @r = staple($name); defined $r[0]{der} }, 0.25);
    @r;
}

1;
