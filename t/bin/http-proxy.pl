#!/usr/bin/perl
# A small forward HTTP proxy for the tests (OCSPPrefetchProxy): listens on
# 127.0.0.1:PORT only, takes "METHOD http://HOST:PORT/PATH HTTP/1.x"
# (absolute form), forwards to HOST:PORT only when HOST is 127.0.0.1 or
# localhost (never anywhere else), relays the answer, and logs one line
# per request:  EPOCH METHOD URI AUTH STATUS
# AUTH: "none" (no Proxy-Authorization), "ok" or "bad" (against --auth
# user:password; without --auth any is "ok"). With --auth, a request
# without the right credentials gets 407 and is not forwarded. The password
# is never logged. Ends after --lifetime seconds.
#   http-proxy.pl --port P --log FILE [--auth user:password] [--lifetime S]
use strict;
use warnings;
use IO::Socket::INET;
use IO::Select;
use MIME::Base64 qw(encode_base64);
use Getopt::Long;
use Time::HiRes qw(time);

my %o = (lifetime => 600);
GetOptions(\%o, 'port=i', 'log=s', 'auth=s', 'lifetime=i') or die "usage\n";
die "--port and --log needed\n" unless $o{port} && $o{log};
my $want = defined $o{auth} ? 'Basic ' . encode_base64($o{auth}, '') : undef;
my $srv = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $o{port},
                                Proto => 'tcp', Listen => 16, ReuseAddr => 1)
    or die "listen 127.0.0.1:$o{port}: $!\n";
$SIG{CHLD} = 'IGNORE';
$SIG{ALRM} = sub { exit 0 };
alarm $o{lifetime};

sub logline {
    open my $fh, '>>', $o{log} or return;
    printf $fh "%.3f %s\n", time, join(' ', @_);
    close $fh;
}

sub read_head {
    my ($c) = @_;
    my $buf = '';
    my $sel = IO::Select->new($c);
    my $end = time + 10;
    while ($buf !~ /\r?\n\r?\n/) {
        my $left = $end - time;
        return undef if $left <= 0 || !$sel->can_read($left);
        my $n = sysread $c, $buf, 8192, length $buf;
        return undef unless $n;
        return undef if length $buf > 65536;
    }
    return $buf;
}

while (1) {
    my $c = $srv->accept or next;
    my $pid = fork;
    if (!defined $pid) { close $c; next }
    if ($pid) { close $c; next }
    close $srv;
    alarm 30;
    my $buf = read_head($c) // exit 0;
    my ($head, $rest) = split /\r?\n\r?\n/, $buf, 2;
    my ($line, @h) = split /\r?\n/, $head;
    my ($method, $uri, $ver) = split ' ', $line // '';
    my %h;
    for (@h) { $h{lc $1} = $2 if /^([^:]+):\s*(.*)$/ }
    my $auth = !defined $h{'proxy-authorization'} ? 'none'
             : !defined $want || $h{'proxy-authorization'} eq $want ? 'ok' : 'bad';
    if (defined $want && $auth ne 'ok') {
        logline($method // '-', $uri // '-', $auth, 407);
        print $c "HTTP/1.0 407 Proxy Authentication Required\r\n"
               . "Proxy-Authenticate: Basic realm=\"test\"\r\nContent-Length: 0\r\n\r\n";
        exit 0;
    }
    my ($host, $port, $path) = ($uri // '') =~ m{^http://([^/:]+)(?::(\d+))?(/.*)?$}i;
    if (!$host || ($host ne '127.0.0.1' && lc $host ne 'localhost')) {
        logline($method // '-', $uri // '-', $auth, 403);
        print $c "HTTP/1.0 403 Forbidden\r\nContent-Length: 0\r\n\r\n";
        exit 0;
    }
    $port ||= 80;
    $path ||= '/';
    # the body: Content-Length bytes after the head
    my $len = $h{'content-length'} // 0;
    $rest //= '';
    while (length $rest < $len) {
        my $n = sysread $c, $rest, $len - length $rest, length $rest;
        last unless $n;
    }
    my $up = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                   Proto => 'tcp', Timeout => 10);
    if (!$up) {
        logline($method, $uri, $auth, 502);
        print $c "HTTP/1.0 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n";
        exit 0;
    }
    my $fwd = "$method $path HTTP/1.0\r\n";
    for (@h) { $fwd .= "$_\r\n" unless /^(proxy-|connection:)/i }
    $fwd .= "Connection: close\r\n\r\n" . $rest;
    print $up $fwd;
    my $resp = '';
    while (1) {
        my $n = sysread $up, $resp, 65536, length $resp;
        last unless $n;
    }
    my ($status) = $resp =~ m{^HTTP/\d\.\d (\d+)};
    logline($method, $uri, $auth, $status // '-');
    print $c $resp;
    exit 0;
}
