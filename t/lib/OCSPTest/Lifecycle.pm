package OCSPTest::Lifecycle;
# Timed restarts and stops of an OCSPTest::Httpd, and what the prefetch
# thread was doing at a given moment, read from the error log
# (LogLevel ocsp_prefetch:debug, which OCSPTest::Httpd sets).
#
#   my $r = timed_graceful($h);   # { took, signal_to_up, handshake, ok, error }
#   my $r = timed_stop($h);       # { took, ok }
#   my %st = fetch_states($h, before => qr/caught SIGTERM/, off => $off);
#   # serial => 'fetching' | 'done'   (last engine event of each certificate)
use strict;
use warnings;
use Time::HiRes qw(time sleep);
use OCSPTest qw(wait_until alive log_since);
use OCSPTest::Client qw(get_staple);
use Exporter 'import';
our @EXPORT_OK = qw(timed_graceful timed_stop fetch_states in_flight
                    GRACEFUL_RE STOP_RE);

# what the parent logs when it acts on the signal (event and prefork MPMs)
use constant GRACEFUL_RE => qr/AH00493: SIGUSR1 received|AH00171: Graceful restart requested/;
use constant STOP_RE     => qr/AH00169: caught SIGTERM/;

# `-k graceful`, then wait (bounded by $a{timeout}, default 10 s) until the
# new generation logs "resuming normal operations" and a handshake to the
# first vhost succeeds.  took: from running `-k graceful` to that handshake.
sub timed_graceful {
    my ($h, %a) = @_;
    my $timeout = $a{timeout} || 10;
    # only what is logged from here on (the log grows: no full re-reads)
    my $off = -s $h->error_log || 0;
    my $t0 = time;
    my ($rc, $out) = $h->_run('-k', 'graceful');
    return { ok => 0, error => "apache2 -k graceful failed (rc $rc): $out" } if $rc;
    my $up = wait_until($timeout, sub {
        log_since($h->error_log, $off) =~ /resuming normal operations/ }, 0.01);
    my $t_up = time;
    return { ok => 0, error => "no new generation within $timeout s", took => $t_up - $t0 }
        unless $up;
    my $v = $h->{vhosts}[0];
    my $g;
    my $ok = wait_until($timeout, sub {
        $g = get_staple(port => $v->{port}, sni => $v->{servername}, timeout => 2);
        $g->{ok} }, 0.01);
    my $t1 = time;
    return { ok => $ok ? 1 : 0, took => $t1 - $t0, to_generation => $t_up - $t0,
             handshake => $g, error => $ok ? undef : "no handshake answered within $timeout s" };
}

# `-k stop`, then wait (bounded) until the parent is gone (exited or zombie).
sub timed_stop {
    my ($h, %a) = @_;
    my $timeout = $a{timeout} || 10;
    my $pid = $h->pid or return { ok => 0, error => 'not running' };
    my $t0 = time;
    $h->_run('-k', 'stop');
    my $gone = wait_until($timeout, sub { !alive($pid) }, 0.005);
    my $took = time - $t0;
    unless ($gone) { kill 'KILL', $pid; wait_until(5, sub { !alive($pid) }) }
    return { ok => $gone ? 1 : 0, took => $took, pid => $pid };
}

# Last engine event per certificate serial of the newest prefetch thread
# ("prefetch thread started", identified by its tid) in the error log after
# byte offset `off`, up to the first line matching `before` that follows a
# thread start (or the end):
# 'fetching' when the last one is "fetching OCSP response", 'done' otherwise.
sub fetch_states {
    my ($h, %a) = @_;
    my (%st, $tid);
    for my $l (split /\n/, log_since($h->error_log, $a{off} || 0)) {
        last if $a{before} && defined $tid && $l =~ $a{before};
        my ($t) = $l =~ /\[pid \d+:tid (\d+)\]/ or next;
        if ($l =~ /prefetch thread started/) { $tid = $t; %st = (); next }
        next unless defined $tid && $t eq $tid;
        my ($ser, $ev) = $l =~ /\(serial ([0-9A-F]+)\): (fetching OCSP response|stored OCSP response|OCSP fetch failed|rejected OCSP response|no usable OCSP response|cannot save)/ or next;
        $st{$ser} = $ev =~ /^fetching/ ? "fetching" : "done";
    }
    return %st;
}

# serials with a fetch in flight (see fetch_states)
sub in_flight {
    my %st = fetch_states(@_);
    return sort grep { $st{$_} eq 'fetching' } keys %st;
}

1;
