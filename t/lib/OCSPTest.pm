package OCSPTest;
# Shared paths and small utilities for the mod_ocsp_prefetch test suite.
use strict;
use warnings;
use Cwd qw(abs_path);
use File::Basename qw(dirname);
use File::Path qw(make_path);
use IO::Socket::INET;
use Time::HiRes qw(time sleep);
use Exporter 'import';

our @EXPORT_OK = qw(t_dir top_dir pki_dir work_dir module_so module_built standin
                    responder_port responder_log wait_until free_port
                    slurp log_since log_size count_fetches leaf);

my $T = abs_path(dirname(dirname(__FILE__)));     # .../t

sub t_dir    { $T }
sub top_dir  { dirname($T) }
sub pki_dir  { $ENV{OCSPT_PKI} || "$T/pki/out" }
sub work_dir { my $d = "$T/work"; make_path($d) unless -d $d; $d }

# The module under test: $OCSP_PREFETCH_SO or <top>/.libs/mod_ocsp_prefetch.so
sub module_so   { $ENV{OCSP_PREFETCH_SO} || top_dir() . "/.libs/mod_ocsp_prefetch.so" }
sub module_built { -f module_so() }
# Stand-in mode (no module; mod_ssl's own stapling proves the infrastructure)
sub standin     { !module_built() && $ENV{OCSPT_STANDIN} }

# Port of the suite-wide responder started by t/TEST (also baked into AIA URLs)
sub responder_port {
    return $ENV{OCSPT_RESPONDER_PORT} if $ENV{OCSPT_RESPONDER_PORT};
    my $p = slurp(pki_dir() . "/port"); chomp $p if defined $p; $p;
}
sub responder_log { $ENV{OCSPT_RESPONDER_LOG} || work_dir() . "/responder.log" }

# paths of a leaf: (cert, key, chain, req.der)
sub leaf {
    my $n = shift; my $d = pki_dir() . "/leaves";
    return { cert => "$d/$n.pem", key => "$d/$n.key", chain => "$d/$n.chain.pem",
             req => "$d/$n.req.der", name => "$n.test" };
}

# Poll $cb every $step seconds until it returns true or $timeout passes.
# Returns the callback's last value (true on success).
sub wait_until {
    my ($timeout, $cb, $step) = @_;
    $step ||= 0.2;
    my $end = time + $timeout;
    while (1) {
        my $v = $cb->();
        return $v if $v;
        return $v if time >= $end;
        sleep $step;
    }
}

# A free TCP port on 127.0.0.1 (bind to 0, read, close).
sub free_port {
    my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                  Proto => 'tcp', Listen => 1, ReuseAddr => 1)
        or die "free_port: $!";
    my $p = $s->sockport; close $s; $p;
}

sub slurp {
    my $f = shift;
    open my $fh, '<', $f or return undef;
    local $/; my $c = <$fh>; close $fh; $c;
}

sub log_size { my $f = shift; -s $f || 0 }

# Content of a log file after byte offset $off (default 0).
sub log_since {
    my ($f, $off) = @_;
    my $c = slurp($f);
    return '' unless defined $c;
    $off ||= 0;
    return length($c) > $off ? substr($c, $off) : '';
}

# Number of responder log lines for $mode (optional) after offset $off.
sub count_fetches {
    my ($mode, $off, $log) = @_;
    my $c = log_since($log || responder_log(), $off);
    my @l = grep { length } split /\n/, $c;
    @l = grep { (split ' ', $_)[2] eq $mode } @l if defined $mode;
    scalar @l;
}

1;
