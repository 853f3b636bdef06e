#!/usr/bin/perl
# Fault-injecting OCSP responder for the mod_ocsp_prefetch tests.
#
#   ocsp-responder.pl --port N --pki DIR --log FILE [--pidfile F]
#                     [--lifetime SECS] [--max-conn N] [--tmp DIR]
#
# Listens on 127.0.0.1 only, forks one child per connection, answers
# HTTP/1.0 and closes.  Every answer that carries an OCSP response is made by
# the real `openssl ocsp` responder in one-shot mode (-reqin/-respout); the
# first path segment selects a fault mode in front of it:
#   good short nonext wrongkey othercert expired future trylater garbage
#   truncated http500 hang drop delay=N big huge past switch=NAME signer=NAME
#   sha1 unauthorized malformed
# nonext: openssl ocsp without -ndays/-nmin (no nextUpdate, as EJBCA and
#   Vault/OpenBao with ocsp_expiry=0); sha1: signed with SHA-1 (-rmd sha1);
#   unauthorized and malformed: the bare OCSPResponse of status 6 and 1
#   (openssl ocsp answers an unknown CA with status unknown, and has no
#   switch to require a nonce), like trylater.
# good, short, big, huge and delay=N combine with '+' (e.g. big+short: a
# ~2.6 KB response valid 60 s); 'big' embeds extra certificates (-rother);
# 'huge' embeds PKI/bigcert.pem (a response of about 18 KB, more than 16 KiB).
# padded and berlen (combinable too) take the genuine response and change its
# encoding, not its content, as an on-path attacker could without touching the
# signature: padded adds two zero bytes inside the responseBytes OCTET STRING
# (after the BasicOCSPResponse); berlen writes the outer SEQUENCE's length in
# a non-minimal long form. OpenSSL still accepts both; strict DER parsers
# (GnuTLS) refuse them.
# past: made an hour ago (faketime -1h), still valid for 23 h: an older
#   thisUpdate than a fresh response (a stale CDN copy).
# switch=NAME: the mode is read from the file TMP/switch-NAME at every request
#   (its first line, e.g. "garbage"; 'good' when the file is missing), so a
#   test switches a responder URL between behaviours by rewriting the file.
#   It may name any mode but switch=.  Logged as "switch=NAME:MODE".
# signer=NAME: like good, but signed by the delegated signer TMP/signer-NAME.pem
#   (key TMP/signer-NAME.key) that a test made (e.g. one about to expire).
# GET: /MODE[/ignored...]/<url-encoded base64 DER request>   (RFC 6960 A.1)
# POST: /MODE[/ignored...] with the DER request as body (application/ocsp-request)
# Only the first path segment (the mode) and, for GET, the last one count.
# Every request is logged as one line:  EPOCH METHOD MODE STATUS SERIALS
# (SERIALS: the CertID serial numbers of the request, upper-case hex, joined
# by ','; '-' when the request could not be parsed).
# The server exits by itself after --lifetime seconds or --max-conn
# connections; a child never lives longer than 60 s.
use strict;
use warnings;
use Getopt::Long;
use IO::Socket::INET;
use POSIX qw(:sys_wait_h setsid);
use Fcntl qw(:flock O_WRONLY O_APPEND O_CREAT);
use File::Temp qw(tempdir);
use MIME::Base64 qw(decode_base64);
use Time::HiRes qw(time sleep);

my %o = (lifetime => 900, 'max-conn' => 20000, tmp => undef);
GetOptions(\%o, 'port=i', 'pki=s', 'log=s', 'pidfile=s', 'lifetime=i',
           'max-conn=i', 'tmp=s', 'foreground') or die "bad options\n";
die "--port, --pki and --log are required\n"
    unless $o{port} && $o{pki} && $o{log};
my $pki = $o{pki};
$o{tmp} ||= tempdir('ocspresp-XXXXXX', TMPDIR => 1, CLEANUP => 0);

my $srv = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $o{port},
                                Proto => 'tcp', Listen => 64, ReuseAddr => 1)
    or die "ocsp-responder: cannot listen on 127.0.0.1:$o{port}: $!\n";

if ($o{pidfile}) {
    open my $fh, '>', $o{pidfile} or die "pidfile: $!";
    print $fh "$$\n"; close $fh;
}

# 'big' mode: extra certificates embedded in the response (~2.6 KB of DER
# instead of ~0.8).  Made from this PKI at every start: a copy left by an
# earlier run could hold certificates of a regenerated PKI.
our $BIG_OTHER = "$o{tmp}/big-other-$$.pem";
{
    my $pem = join '', map { local $/; open my $f, '<', "$pki/$_" or die "$pki/$_: $!\n"; <$f> }
              qw(root.pem int.pem rogue.pem leaves/decoy.pem);
    open my $f, '>', $BIG_OTHER or die "$BIG_OTHER: $!\n"; print $f $pem; close $f;
}
END { unlink $BIG_OTHER if $BIG_OTHER && $$ == $main::PARENT }
our $PARENT = $$;

my $deadline = time + $o{lifetime};
my $conns = 0;
my %kids;
$SIG{CHLD} = sub { while ((my $p = waitpid(-1, WNOHANG)) > 0) { delete $kids{$p} } };
$SIG{TERM} = $SIG{INT} = sub { kill 'KILL', keys %kids; unlink $o{pidfile} if $o{pidfile}; exit 0 };

while (time < $deadline && $conns < $o{'max-conn'}) {
    my $rin = ''; vec($rin, fileno($srv), 1) = 1;
    my $n = select(my $rout = $rin, undef, undef, 1);
    next unless $n && $n > 0;
    my $c = $srv->accept or next;
    $conns++;
    my $pid = fork;
    if (!defined $pid) { close $c; next }
    if ($pid == 0) {
        $SIG{CHLD} = 'DEFAULT'; $SIG{TERM} = 'DEFAULT';
        close $srv;
        alarm 60;
        handle($c);
        exit 0;
    }
    $kids{$pid} = 1;
    close $c;
}
kill 'KILL', keys %kids;
unlink $o{pidfile} if $o{pidfile};
exit 0;

my $SERIALS = '-';
sub first_line {
    my $f = shift;
    open my $fh, '<', $f or return undef;
    my $l = <$fh>; close $fh;
    return undef unless defined $l;
    $l =~ s/^\s+|\s+$//g;
    return $l;
}

sub logline {
    my ($method, $mode, $status) = @_;
    $mode = '-' unless length $mode;
    sysopen my $fh, $o{log}, O_WRONLY | O_APPEND | O_CREAT or return;
    flock $fh, LOCK_EX;
    syswrite $fh, sprintf("%.3f %s %s %s %s\n", time, $method, $mode, $status, $SERIALS);
    close $fh;
}

# Minimal DER walker: (tag, content offset, content length, next offset)
sub der_tlv {
    my ($b, $pos, $end) = @_;
    return () if $pos + 2 > $end;
    my $tag = ord substr($b, $pos, 1);
    my $l = ord substr($b, $pos + 1, 1);
    my $hdr = 2;
    if ($l & 0x80) {
        my $n = $l & 0x7f;
        return () if $n < 1 || $n > 3 || $pos + 2 + $n > $end;
        $l = 0;
        $l = ($l << 8) | ord substr($b, $pos + 2 + $_, 1) for 0 .. $n - 1;
        $hdr += $n;
    }
    my $c = $pos + $hdr;
    return () if $c + $l > $end;
    return ($tag, $c, $l, $c + $l);
}

# CertID serials of an OCSPRequest, upper-case hex without leading zeros.
sub request_serials {
    my $b = shift;
    my @s;
    eval {
        my (undef, $c, $l) = der_tlv($b, 0, length $b) or die;          # OCSPRequest
        my (undef, $tc, $tl) = der_tlv($b, $c, $c + $l) or die;         # tbsRequest
        my ($pos, $end) = ($tc, $tc + $tl);
        my ($tag, $rc, $rl, $next);
        while (1) {                                                      # [0] [1] then requestList
            ($tag, $rc, $rl, $next) = der_tlv($b, $pos, $end) or die;
            last if $tag == 0x30;
            $pos = $next;
        }
        my ($p, $e) = ($rc, $rc + $rl);
        while ($p < $e) {                                                # Request
            my (undef, $qc, $ql, $qn) = der_tlv($b, $p, $e) or die;
            my (undef, $cc, $cl) = der_tlv($b, $qc, $qc + $ql) or die;   # CertID
            my $q = $cc; my $ce = $cc + $cl;
            for (1 .. 3) { (undef, undef, undef, $q) = der_tlv($b, $q, $ce) or die }
            my ($t, $sc, $sl) = der_tlv($b, $q, $ce) or die;
            die unless $t == 0x02;
            (my $hex = uc unpack('H*', substr($b, $sc, $sl))) =~ s/^(?:00)+(?=.)//;
            push @s, $hex;
            $p = $qn;
        }
    };
    return @s ? join(',', @s) : '-';
}

sub reply {
    my ($c, $code, $ctype, $body) = @_;
    my %txt = (200 => 'OK', 400 => 'Bad Request', 404 => 'Not Found',
               405 => 'Method Not Allowed', 500 => 'Internal Server Error');
    my $h = "HTTP/1.0 $code " . ($txt{$code} || 'X') . "\r\n"
          . "Content-Type: $ctype\r\nContent-Length: " . length($body)
          . "\r\nConnection: close\r\n\r\n";
    local $SIG{PIPE} = 'IGNORE';
    syswrite $c, $h . $body;
}

sub read_request {
    my $c = shift;
    $main::EMPTY = 1;
    my $buf = '';
    while ($buf !~ /\r?\n\r?\n/) {
        return undef if length $buf > 65536;
        my $r = sysread $c, $buf, 4096, length $buf;
        return undef unless $r;
        $main::EMPTY = 0;
    }
    my ($head, $body) = split /\r?\n\r?\n/, $buf, 2;
    my ($line, @hdrs) = split /\r?\n/, $head;
    my ($method, $path) = $line =~ m{^(\S+)\s+(\S+)} or return undef;
    my %h;
    for (@hdrs) { $h{lc $1} = $2 if /^([^:]+):\s*(.*)$/ }
    if ($method eq 'POST') {
        my $len = $h{'content-length'};
        return undef unless defined $len && $len =~ /^\d+$/ && $len <= 65536;
        while (length $body < $len) {
            my $r = sysread $c, $body, $len - length $body, length $body;
            return undef unless $r;
        }
        $body = substr $body, 0, $len;
    }
    return ($method, $path, $body);
}

# DER length octets of $n
sub der_len {
    my $n = shift;
    return chr($n) if $n < 0x80;
    my $b = '';
    while ($n) { $b = chr($n & 0xff) . $b; $n >>= 8 }
    return chr(0x80 | length $b) . $b;
}
# (tag, header length, value length) of the TLV at the start of $d
sub tlv_at {
    my $d = shift;
    my ($tag, $l) = unpack 'CC', $d;
    return ($tag, 2, $l) unless $l & 0x80;
    my $k = $l & 0x7f;
    my $n = 0;
    $n = ($n << 8) | $_ for unpack "x2C$k", $d;
    return ($tag, 2 + $k, $n);
}
sub tlv { my ($tag, $v) = @_; chr($tag) . der_len(length $v) . $v }
# OCSPResponse ::= SEQUENCE { ENUMERATED, [0] { SEQUENCE { OID, OCTET STRING } } }
sub padded {
    my $r = shift;
    my (undef, $h) = tlv_at($r);
    my $body = substr $r, $h;                                  # ENUM, [0]
    my (undef, $eh, $el) = tlv_at($body);
    my $enum = substr $body, 0, $eh + $el;
    my (undef, $xh) = tlv_at(substr $body, $eh + $el);
    my $rb = substr $body, $eh + $el + $xh;                    # SEQUENCE
    my (undef, $sh) = tlv_at($rb);
    my $seq = substr $rb, $sh;                                 # OID, OCTET
    my (undef, $oh, $ol) = tlv_at($seq);
    my $oid = substr $seq, 0, $oh + $ol;
    my (undef, $ch) = tlv_at(substr $seq, $oh + $ol);
    my $basic = substr $seq, $oh + $ol + $ch;
    return tlv(0x30, $enum . tlv(0xa0, tlv(0x30, $oid . tlv(0x04, $basic . "\0\0"))));
}
sub berlen {
    my $r = shift;
    my (undef, $h, $n) = tlv_at($r);
    return "\x30\x84" . pack('N', $n) . substr($r, $h);
}

sub run_openssl {
    my ($reqder, %a) = @_;
    my $dir = tempdir('r-XXXXXX', DIR => $o{tmp}, CLEANUP => 1);
    open my $fh, '>', "$dir/req.der" or return undef;
    binmode $fh; print $fh $reqder; close $fh;
    my @cmd;
    push @cmd, 'faketime', '-f', $a{faketime} if $a{faketime};
    my ($signer, $skey) = $a{rogue}  ? ("$pki/rogue.pem", "$pki/rogue.key")
                        : $a{signer} ? ("$o{tmp}/signer-$a{signer}.pem", "$o{tmp}/signer-$a{signer}.key")
                        :              ("$pki/signer.pem", "$pki/signer.key");
    push @cmd, 'openssl', 'ocsp', '-index', "$pki/index.txt", '-CA', "$pki/int.pem",
        '-rsigner', $signer, '-rkey', $skey,
        '-reqin', $a{reqfile} || "$dir/req.der", '-respout', "$dir/resp.der";
    push @cmd, @{ $a{validity} || ['-ndays', '1'] };
    push @cmd, '-rmd', $a{rmd} if $a{rmd};
    push @cmd, '-rother', $BIG_OTHER if $a{big};
    push @cmd, '-rother', "$pki/bigcert.pem" if $a{huge};
    my $pid = fork;
    return undef unless defined $pid;
    if ($pid == 0) {
        open STDOUT, '>', '/dev/null'; open STDERR, '>', "$dir/err";
        exec @cmd; exit 127;
    }
    waitpid $pid, 0;
    return undef if $?;
    open my $in, '<', "$dir/resp.der" or return undef;
    binmode $in; local $/; my $der = <$in>; close $in;
    return $der;
}

sub handle {
    my $c = shift;
    binmode $c;
    my ($method, $path, $body) = read_request($c);
    unless (defined $method) { logline("-", "-", "badreq") unless $main::EMPTY; return }
    $path =~ s{^https?://[^/]+}{};
    my ($mode, $rest) = $path =~ m{^/([^/]*)/?(.*)$};
    $mode = '' unless defined $mode;
    my $der;
    if ($method eq 'POST') { $der = $body }
    elsif ($method eq 'GET') {
        # the request is the last segment; segments in between are ignored
        (my $b64 = $rest) =~ s{^.*/}{};
        $b64 =~ s/%([0-9A-Fa-f]{2})/chr hex $1/ge;
        $der = decode_base64($b64);
    }
    else { reply($c, 405, 'text/plain', "method\n"); logline($method, $mode, 405); return }
    unless (defined $der && length $der) {
        reply($c, 400, 'text/plain', "no request\n"); logline($method, $mode, 400); return;
    }
    $SERIALS = request_serials($der);

    # what the log calls this mode: switch=NAME:MODE for a switched one
    my $label = $mode;
    if ($mode =~ /^switch=(\w+)$/) {
        my $name = $1;
        my $m = first_line("$o{tmp}/switch-$name");
        $m = 'good' unless defined $m && length $m && $m !~ /^switch=/ && $m =~ /^[\w=.+-]+$/;
        $label = "switch=$name:$m";
        $mode = $m;
    }

    my %a;
    my $combinable = qr/good|short|big|huge|padded|berlen|delay=\d+(?:\.\d+)?/;
    if ($mode =~ /^(?:$combinable)(?:\+(?:$combinable))*$/) {
        for my $m (split /\+/, $mode) {
            if    ($m eq 'short') { $a{validity} = ['-nmin', '1'] }
            elsif ($m eq 'big')   { $a{big} = 1 }
            elsif ($m eq 'huge')  { $a{huge} = 1 }
            elsif ($m eq 'padded') { $a{padded} = 1 }
            elsif ($m eq 'berlen') { $a{berlen} = 1 }
            elsif ($m =~ /^delay=(.+)$/) { sleep($1 > 50 ? 50 : $1) }
        }
    }
    elsif ($mode eq 'nonext')    { $a{validity} = [] }
    elsif ($mode eq 'sha1')      { $a{rmd} = 'sha1' }
    elsif ($mode eq 'unauthorized' || $mode eq 'malformed') {
        my $st = $mode eq 'unauthorized' ? "\x06" : "\x01";
        reply($c, 200, 'application/ocsp-response', "\x30\x03\x0a\x01$st");
        logline($method, $label, 200); return;
    }
    elsif ($mode eq 'wrongkey')  { $a{rogue} = 1 }
    elsif ($mode eq 'othercert') { $a{reqfile} = "$pki/leaves/decoy.req.der" }
    elsif ($mode eq 'expired')   { $a{faketime} = '-2d' }
    elsif ($mode eq 'future')    { $a{faketime} = '+1d' }
    elsif ($mode eq 'past')      { $a{faketime} = '-1h' }
    elsif ($mode =~ /^signer=(\w+)$/) {
        my $name = $1;
        $a{signer} = $name;
        unless (-f "$o{tmp}/signer-$name.pem" && -f "$o{tmp}/signer-$name.key") {
            reply($c, 500, 'text/plain', "no such signer\n"); logline($method, $label, '500-nosigner'); return;
        }
    }
    elsif ($mode eq 'trylater') {
        reply($c, 200, 'application/ocsp-response', "\x30\x03\x0a\x01\x03");
        logline($method, $label, 200); return;
    }
    elsif ($mode eq 'garbage') {
        my $g = join '', map { chr int rand 256 } 1 .. 700;
        reply($c, 200, 'application/ocsp-response', $g);
        logline($method, $label, 200); return;
    }
    elsif ($mode eq 'truncated') { $a{truncate} = 1 }
    elsif ($mode eq 'http500') {
        reply($c, 500, 'text/plain', "responder broken\n");
        logline($method, $label, 500); return;
    }
    elsif ($mode eq 'hang') {
        logline($method, $label, 'hang');
        # wait until the client gives up (EOF), at most 50 s
        my $end = time + 50;
        while (time < $end) {
            my $rin = ''; vec($rin, fileno($c), 1) = 1;
            my $n = select(my $rout = $rin, undef, undef, 1);
            next unless $n && $n > 0;
            my $r = sysread $c, my $x, 4096;
            last unless $r;
        }
        return;
    }
    elsif ($mode eq 'drop') { logline($method, $label, 'drop'); close $c; return }
    else { reply($c, 404, 'text/plain', "unknown mode\n"); logline($method, $label, 404); return }

    my $resp = run_openssl($der, %a);
    unless (defined $resp) {
        reply($c, 500, 'text/plain', "openssl failed\n"); logline($method, $label, '500-openssl'); return;
    }
    $resp = substr($resp, 0, int(length($resp) / 2)) if $a{truncate};
    $resp = padded($resp) if $a{padded};
    $resp = berlen($resp) if $a{berlen};
    reply($c, 200, 'application/ocsp-response', $resp);
    logline($method, $label, 200);
}
