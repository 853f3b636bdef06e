package OCSPTest::Client;
# TLS client with status_request, and verification of a stapled response
# with the real `openssl ocsp`.
use strict;
use warnings;
use IO::Socket::SSL qw(SSL_VERIFY_NONE SSL_OCSP_TRY_STAPLE);
use Net::SSLeay;
use File::Temp qw(tempdir);
use OCSPTest qw(pki_dir leaf);
use Exporter 'import';
our @EXPORT_OK = qw(get_staple verify_staple staple_info);

# get_staple(port => P, sni => NAME [, host => '127.0.0.1', timeout => 10])
# Returns a hashref: { ok => handshake succeeded, der => stapled DER or undef,
#                      error => message, cert_cn => CN of the served cert }.
sub get_staple {
    my %a = @_;
    my $der;
    my $got_cb = 0;
    my $sock = IO::Socket::SSL->new(
        PeerHost        => $a{host} || '127.0.0.1',
        PeerPort        => $a{port},
        SSL_hostname    => $a{sni},
        SSL_verify_mode => SSL_VERIFY_NONE,
        SSL_ocsp_mode   => SSL_OCSP_TRY_STAPLE,
        SSL_ocsp_staple_callback => sub {
            my ($ssl, $resp) = @_;
            $got_cb++;
            $der = Net::SSLeay::i2d_OCSP_RESPONSE($resp) if $resp;
        },
        Timeout => $a{timeout} || 10,
    );
    unless ($sock) {
        return { ok => 0, der => undef,
                 error => ($IO::Socket::SSL::SSL_ERROR || "$!") };
    }
    my $cn = '';
    if (my $x = $sock->peer_certificate) {
        $cn = Net::SSLeay::X509_NAME_print_ex(Net::SSLeay::X509_get_subject_name($x));
        $cn = $1 if $cn =~ /CN=([^,\/]+)/;
    }
    # make sure the server side completes the handshake (TLS 1.3)
    $sock->close(SSL_fast_shutdown => 1);
    return { ok => 1, der => $der, cert_cn => $cn, callback => $got_cb };
}

# verify_staple($der, $leafname) runs
#   openssl ocsp -respin R -issuer int.pem -cert LEAF -CAfile root+int -resp_text
# Returns { verify_ok => bool, status => good|revoked|unknown|undef,
#           this_update => string, next_update => string|undef,
#           this_epoch, next_epoch, text => full output }
sub verify_staple {
    my ($der, $leafname) = @_;
    my $dir = tempdir('staple-XXXXXX', TMPDIR => 1, CLEANUP => 1);
    open my $fh, '>', "$dir/r.der" or die $!;
    binmode $fh; print $fh $der; close $fh;
    my $l = leaf($leafname);
    my $p = pki_dir();
    # -no_nonce: there is no request to compare a nonce with (mod_md sends one)
    # stderr apart: openssl writes "Response verify OK" there, unbuffered,
    # and with 2>&1 it can land in the middle of a stdout line
    my $out = `openssl ocsp -respin '$dir/r.der' -issuer '$p/int.pem' -cert '$l->{cert}' -CAfile '$p/ca-chain.pem' -no_nonce -resp_text 2>'$dir/err'`;
    my $err = OCSPTest::slurp("$dir/err") // '';
    $out = "$err\n$out";
    my %r = (text => $out, verify_ok => ($err =~ /^Response verify OK/m ? 1 : 0));
    # status: only from openssl's "<leaf>: STATUS" line, which it prints when
    # the response has a SingleResponse for *this* certificate (a response
    # for another certificate gives "<leaf>: ERROR: No Status found.").
    if ($out =~ /^\Q$l->{cert}\E: (?:WARNING: Status times invalid\.\n.*\n)?(good|revoked|unknown)\s*$/m) {
        $r{status} = $1;
    }
    # whatever status the response carries, for whichever certificate
    $r{any_status} = $1 if $out =~ /^\s*Cert Status: (good|revoked|unknown)/m;
    $r{status_times_invalid} = $out =~ /Status times invalid/ ? 1 : 0;
    $r{this_update} = $1 if $out =~ /^\s*This Update: (.+?)\s*$/m;
    $r{next_update} = $1 if $out =~ /^\s*Next Update: (.+?)\s*$/m;
    $r{response_status} = $1 if $out =~ /OCSP Response Status: (\S+)/;
    # "Cert Status" mentions the cert in the response; check the CertID serial
    $r{serial} = $1 if $out =~ /Serial Number: ([0-9A-Fa-f]+)/;
    $r{this_epoch} = _epoch($r{this_update});
    $r{next_epoch} = _epoch($r{next_update});
    return \%r;
}

my %mon = (Jan=>0,Feb=>1,Mar=>2,Apr=>3,May=>4,Jun=>5,Jul=>6,Aug=>7,Sep=>8,Oct=>9,Nov=>10,Dec=>11);
sub _epoch {
    my $s = shift or return undef;
    # "Nov 22 11:16:44 2026 GMT"
    my ($m, $d, $H, $M, $S, $y) = $s =~ /^(\w{3})\s+(\d+)\s+(\d+):(\d+):(\d+)\s+(\d{4})/
        or return undef;
    require Time::Local;
    return Time::Local::timegm($S, $M, $H, $d, $mon{$m}, $y);
}

# Convenience: handshake + verify; returns (result_of_get_staple, verify_hash|undef)
sub staple_info {
    my (%a) = @_;
    my $g = get_staple(%a);
    return ($g, undef) unless $g->{ok} && defined $g->{der};
    return ($g, verify_staple($g->{der}, $a{leaf}));
}

1;
