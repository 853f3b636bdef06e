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
                    slurp log_since log_size count_fetches leaf leaf_serial
                    responder_requests count_requests log_lines log_time alive
                    helper_path notifier_path privsep_directive helper_user
                    helper_user_directive);

my $T = abs_path(dirname(dirname(__FILE__)));     # .../t

sub t_dir    { $T }
sub top_dir  { dirname($T) }
sub pki_dir  { $ENV{OCSPT_PKI} || "$T/pki/out" }
sub work_dir { my $d = "$T/work"; make_path($d) unless -d $d; $d }

# The module under test: $OCSP_PREFETCH_SO or <top>/.libs/mod_ocsp_prefetch.so
sub module_so   { $ENV{OCSP_PREFETCH_SO} || top_dir() . "/.libs/mod_ocsp_prefetch.so" }
sub module_built { -f module_so() }
# The privilege separation helper built next to the module
sub helper_path { $ENV{OCSPT_HELPER} || dirname(dirname(module_so())) . "/ocsp-prefetch-helper" }
# The notifier of OCSPPrefetchNotifyCmd, built next to the helper (where
# the module looks for it by default)
sub notifier_path { dirname(helper_path()) . "/ocsp-prefetch-notifier" }
# The OCSPPrefetchPrivsep line of every server of the suite (t/TEST's and
# OCSPTest::Httpd's) whose config does not say otherwise: on, the module's
# default, with the helper built next to the module (the default path is
# where `make install` puts it); OCSPT_PRIVSEP=0: off, so that the whole
# suite runs with fetching and validation in the parent process (the
# notifier, found next to the helper otherwise, is then named).
sub privsep_directive {
    return (defined $ENV{OCSPT_PRIVSEP} && !$ENV{OCSPT_PRIVSEP})
        ? "OCSPPrefetchPrivsep off\nOCSPPrefetchNotifier \"" . notifier_path() . "\""
        : "OCSPPrefetchPrivsep on \"" . helper_path() . "\"";
}
# The account the helper of the suite's servers runs as: OCSPT_HELPER_USER,
# else daemon (on every Debian system, and not the servers' User, nobody:
# the separation the Debian package's own user gives), else nobody.
sub helper_user {
    return $ENV{OCSPT_HELPER_USER} if $ENV{OCSPT_HELPER_USER};
    return defined(getpwnam('daemon')) ? 'daemon' : 'nobody';
}
# Its OCSPPrefetchHelperUser line, in every server of the suite whose config
# does not say otherwise: the default user (_ocsp-prefetch) is not there on
# a test machine, and its warning must not show up in every error log.
sub helper_user_directive { "OCSPPrefetchHelperUser " . helper_user() }
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
             req => "$d/$n.req.der", name => "$n.test", serial => leaf_serial($n) };
}

# Serial of a leaf, upper-case hex as the responder log writes it ("1001")
my %serial;
sub leaf_serial {
    my $n = shift;
    return $serial{$n} if $serial{$n};
    my $f = pki_dir() . "/leaves/$n.pem";
    return undef unless -f $f;
    my $o = `openssl x509 -in '$f' -noout -serial 2>/dev/null`;
    my ($s) = $o =~ /serial=([0-9A-Fa-f]+)/ or return undef;
    ($s = uc $s) =~ s/^(?:00)+(?=.)//;
    $serial{$n} = $s;
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

# True while process $pid exists and is not a zombie (an exited daemon stays a
# zombie until PID 1 reaps it, which in a container can take a second or two).
sub alive {
    my $pid = shift or return 0;
    return 0 unless kill 0, $pid;
    my $st = slurp("/proc/$pid/stat");
    return 1 unless defined $st;
    return $st =~ /^\d+ \(.*\) ([A-Za-z])/s && $1 ne 'Z' && $1 ne 'X' ? 1 : 0;
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

# Parsed responder log lines (EPOCH METHOD MODE STATUS SERIALS) after byte
# offset `off`, filtered by any of mode, method, status, serial (a leaf's
# serial as leaf_serial() gives it; matches when the request asks for it).
#   responder_requests(serial => leaf_serial('shared'), method => 'GET')
sub responder_requests {
    my %f = @_;
    my $c = log_since($f{log} || responder_log(), $f{off} || 0);
    my @r;
    for my $line (split /\n/, $c) {
        my ($t, $m, $mode, $st, $ser) = split ' ', $line;
        next unless defined $st;
        my %r = (time => $t, method => $m, mode => $mode, status => $st,
                 serials => [ split /,/, ($ser // '-') ], line => $line);
        next if defined $f{mode}   && $mode ne $f{mode};
        next if defined $f{method} && $m ne $f{method};
        next if defined $f{status} && $st ne $f{status};
        next if defined $f{serial} && !grep { $_ eq $f{serial} } @{ $r{serials} };
        push @r, \%r;
    }
    return @r;
}
sub count_requests { scalar(my @r = responder_requests(@_)) }

# Lines of a log file (after byte offset $off) matching an optional regex.
sub log_lines {
    my ($f, $re, $off) = @_;
    my @l = split /\n/, log_since($f, $off);
    @l = grep { $_ =~ $re } @l if $re;
    @l;
}

# Epoch (with fraction) of an httpd error-log line:
# "[Sat Nov 22 11:28:01.123456 2025] [...]"
my %MON = (Jan=>0,Feb=>1,Mar=>2,Apr=>3,May=>4,Jun=>5,Jul=>6,Aug=>7,Sep=>8,Oct=>9,Nov=>10,Dec=>11);
sub log_time {
    my $line = shift // return undef;
    my ($mon, $d, $H, $M, $S, $frac, $y) =
        $line =~ /^\[\w{3} (\w{3}) +(\d+) (\d+):(\d+):(\d+)(\.\d+)? (\d{4})\]/ or return undef;
    require Time::Local;
    return Time::Local::timelocal($S, $M, $H, $d, $MON{$mon}, $y) + ($frac || 0);
}

1;
