#!/usr/bin/perl
# A TLS front for the suite's OCSP responder: an https:// responder as
# private PKIs publish them (Vault, OpenBao), for the tests of
# OCSPPrefetchResponder https://.
#
#   tls-front.pl --port N --backend PORT --cert PEM --key PEM --log FILE
#                [--lifetime SECS] [--max-conn N]
#
# Listens on 127.0.0.1 only; one child per connection does the TLS
# handshake, reads one HTTP/1.0 request (header and Content-Length body),
# hands it to 127.0.0.1:BACKEND over plain HTTP, and returns what the
# backend answers until it closes. Logs one line per connection:
#   EPOCH ok|handshake-failed|badreq
# Exits by itself after --lifetime seconds or --max-conn connections.
use strict;
use warnings;
use Getopt::Long;
use IO::Socket::INET;
use IO::Socket::SSL;
use POSIX qw(:sys_wait_h);
use Fcntl qw(:flock O_WRONLY O_APPEND O_CREAT);

my %o = (lifetime => 300, 'max-conn' => 2000);
GetOptions(\%o, 'port=i', 'backend=i', 'cert=s', 'key=s', 'log=s',
           'lifetime=i', 'max-conn=i') or die "bad options\n";
die "--port, --backend, --cert, --key and --log are required\n"
    unless $o{port} && $o{backend} && $o{cert} && $o{key} && $o{log};

my $srv = IO::Socket::SSL->new(LocalAddr => '127.0.0.1', LocalPort => $o{port},
    Listen => 64, ReuseAddr => 1, SSL_server => 1, SSL_startHandshake => 0,
    SSL_cert_file => $o{cert}, SSL_key_file => $o{key})
    or die "tls-front: cannot listen on 127.0.0.1:$o{port}: $SSL_ERROR $!\n";

sub logline {
    my $what = shift;
    sysopen my $fh, $o{log}, O_WRONLY | O_APPEND | O_CREAT, 0644 or return;
    flock $fh, LOCK_EX;
    syswrite $fh, sprintf("%d %s\n", time, $what);
    close $fh;
}

sub serve {
    my $c = shift;
    unless ($c->accept_SSL) { logline('handshake-failed'); return }
    my $buf = '';
    while ($buf !~ /\r?\n\r?\n/) {
        return logline('badreq') if length $buf > 65536;
        my $r = sysread $c, $buf, 4096, length $buf;
        return logline('badreq') unless $r;
    }
    my ($head) = split /\r?\n\r?\n/, $buf, 2;
    my $len = $head =~ /^Content-Length:\s*(\d+)/mi ? $1 : 0;
    my $need = length($head) + ($buf =~ /\r\n\r\n/ ? 4 : 2) + $len;
    while (length $buf < $need) {
        my $r = sysread $c, $buf, $need - length $buf, length $buf;
        return logline('badreq') unless $r;
    }
    my $b = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $o{backend},
                                  Proto => 'tcp') or return logline('nobackend');
    syswrite $b, $buf;
    while (sysread $b, my $out, 16384) { syswrite $c, $out }
    close $b;
    logline('ok');
    $c->close(SSL_fast_shutdown => 1);
}

my $deadline = time + $o{lifetime};
my $conns = 0;
$SIG{CHLD} = sub { 1 while waitpid(-1, WNOHANG) > 0 };
$SIG{TERM} = sub { exit 0 };
while (time < $deadline && $conns < $o{'max-conn'}) {
    my $rin = ''; vec($rin, fileno($srv), 1) = 1;
    next unless select(my $rout = $rin, undef, undef, 1) > 0;
    my $c = $srv->accept or next;
    $conns++;
    my $pid = fork;
    if (defined $pid && $pid == 0) {
        close $srv;
        alarm 30;
        serve($c);
        exit 0;
    }
    $c->close(SSL_no_shutdown => 1);
}
