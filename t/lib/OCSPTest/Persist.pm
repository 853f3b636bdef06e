package OCSPTest::Persist;
# Helpers for the restart/store/failure-policy tests (t/store/, t/fetch/17, t/staple/19): the store
# file of a certificate, the responder's switch files, and restarts that
# report the first handshake of the new generation.
use strict;
use warnings;
use Digest::SHA qw(sha256_hex);
use MIME::Base64 qw(decode_base64);
use IO::Socket::INET;
use Time::HiRes qw(time sleep);
use OCSPTest qw(work_dir leaf slurp wait_until);
use Exporter 'import';
our @EXPORT_OK = qw(cert_der store_key store_file read_store write_store
                    responder_tmp set_switch restart_first fetch_ocsp
                    wait_requests);

# DER of a leaf's certificate (the first PEM block of leaves/NAME.pem)
sub cert_der {
    my $name = shift;
    my $pem = slurp(leaf($name)->{cert}) // die "no certificate $name";
    my ($b64) = $pem =~ /-----BEGIN CERTIFICATE-----(.*?)-----END CERTIFICATE-----/s
        or die "no PEM block in $name";
    return decode_base64($b64);
}

# The store's key of a certificate: SHA-256 of its DER, lower-case hex
sub store_key { sha256_hex(cert_der(shift)) }
sub store_file { my ($dir, $name) = @_; "$dir/" . store_key($name) . ".ocsp" }

# Store file layout (src/store/opf_store.c):
#   "OPFSTOR1" | DER length (4 bytes, big-endian) | 4 reserved bytes | DER
sub read_store {
    my $f = shift;
    my $c = slurp($f) // return undef;
    return undef unless length $c >= 16 && substr($c, 0, 8) eq 'OPFSTOR1';
    my $n = unpack 'N', substr($c, 8, 4);
    return substr($c, 16, $n);
}

# write_store(FILE, DER [, mode => 0600, raw => bytes-instead-of-a-well-formed-file])
sub write_store {
    my ($f, $der, %a) = @_;
    my $bytes = defined $a{raw} ? $a{raw}
              : 'OPFSTOR1' . pack('N', length $der) . "\0\0\0\0" . $der;
    open my $fh, '>', "$f.t" or die "$f.t: $!";
    binmode $fh; print $fh $bytes; close $fh or die "$f: $!";
    chmod $a{mode} // 0600, "$f.t";
    rename "$f.t", $f or die "rename $f: $!";
}

# the responder's --tmp directory (switch-NAME and signer-NAME.* files)
sub responder_tmp { my $d = work_dir() . "/responder-tmp"; mkdir $d unless -d $d; $d }

# The responder's switch=NAME URL answers in mode MODE from now on.
sub set_switch {
    my ($name, $mode) = @_;
    my $f = responder_tmp() . "/switch-$name";
    open my $fh, '>', "$f.t" or die "$f.t: $!";
    print $fh "$mode\n"; close $fh;
    rename "$f.t", $f or die "rename $f: $!";
}

# restart_first($httpd, 'graceful'|'restart' [, vhost => NAME, timeout => S])
# Sends the signal, waits (bounded) until the new generation logs "resuming
# normal operations", then makes handshakes to VHOST (default the first)
# until one succeeds: that first successful handshake (get_staple hash) is
# returned with the seconds from the signal to the new generation's line.
sub restart_first {
    my ($h, $how, %a) = @_;
    my $name = $a{vhost} // $h->{vhosts}[0]{name};
    my $timeout = $a{timeout} || 20;
    my $before = $h->generation_count;
    my $t0 = time;
    my ($rc, $out) = $h->_run('-k', $how);
    die "-k $how failed: $out" if $rc;
    wait_until($timeout, sub { $h->generation_count > $before }, 0.02)
        or die "-k $how of $h->{name}: no new generation within $timeout s\n" . $h->log_tail;
    my $gen_after = time - $t0;
    my $g;
    wait_until($timeout, sub { $g = $h->staple($name, timeout => 3); $g->{ok} }, 0.02);
    die "-k $how of $h->{name}: no handshake within $timeout s\n" . $h->log_tail unless $g && $g->{ok};
    return ($g, $gen_after);
}

# One OCSP request for leaf NAME to the responder on PORT in MODE, by POST.
# Returns the response body (DER) or undef.
sub fetch_ocsp {
    my ($port, $mode, $name) = @_;
    my $req = slurp(leaf($name)->{req}) // die "no request for $name";
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                  Proto => 'tcp', Timeout => 10) or return undef;
    binmode $s;
    print $s "POST /$mode/ HTTP/1.0\r\nHost: 127.0.0.1\r\n"
           . "Content-Type: application/ocsp-request\r\nContent-Length: "
           . length($req) . "\r\n\r\n" . $req;
    local $/;
    my $r = <$s>; close $s;
    return undef unless defined $r && $r =~ m{^HTTP/1\.\d 200 };
    my (undef, $body) = split /\r\n\r\n/, $r, 2;
    return $body;
}

# Wait (bounded) until at least N responder log lines after OFF match the
# filters of OCSPTest::responder_requests; returns the matching lines.
sub wait_requests {
    my ($n, $timeout, %f) = @_;
    my @r;
    wait_until($timeout, sub { @r = OCSPTest::responder_requests(%f); @r >= $n }, 0.1);
    return @r;
}

1;
