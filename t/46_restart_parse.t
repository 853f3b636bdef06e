# A graceful restart does not parse the certificates again: the module keeps
# what it parsed (leaves and issuers) across configuration generations
# (src/opf_cert.c, the cache in the process pool), and frees a certificate
# once a generation no longer has it. An LD_PRELOAD shim (t/bin/parsewatch.c)
# records every PEM_read_bio_X509 call made from mod_ocsp_prefetch.so in the
# parent (mod_ssl's own parses are not counted):
#   - the first start parses each certificate (control: the count can move);
#   - graceful restarts with the same configuration parse none, and a
#     SIGHUP restart none either; every staple is still served and valid;
#   - a graceful restart that adds a vhost parses exactly its leaf (its
#     issuer is the others');
#   - one that removes it parses nothing, and adding it back once more parses
#     it again (it was freed with the generation that dropped it);
#   - the configured certificate files (SSLCertificateFile, whose first
#     certificate the module hashes without parsing) are not read again by
#     a restart either while they are unchanged (inode, size, times); an
#     added vhost's file is read once, and a file touched in place is read
#     again (once), still without a parse;
#   - no crash, the parent stays the same process; stop ends it, and it
#     exits normally (the cache is released at exit; a crash there would
#     leave no trace in the error log: the shim notes each normal exit).
use strict;
use warnings;
use FindBin; use lib "$FindBin::Bin/lib";
use Apache::Test qw(-withtestmore);
use OCSPTest qw(module_built wait_until responder_port work_dir t_dir free_port leaf);
use OCSPTest::Httpd;
use OCSPTest::Client qw(get_staple verify_staple);

plan tests => 28, need { 'module not built (stand-in run)' => module_built() };

my $rp = responder_port();
my $shim = work_dir() . "/parsewatch.so";
my $watch = work_dir() . "/parsewatch-46.log";
unlink $watch;
system("cc -shared -fPIC -o '$shim' '" . t_dir() . "/bin/parsewatch.c' -ldl") == 0
    or BAIL_OUT("cannot build t/bin/parsewatch.c");
chmod 0644, $shim;

# PEM_read_bio_X509 calls made by the module in process $pid so far
sub parses {
    my ($pid) = @_;
    open my $fh, '<', $watch or return 0;
    return scalar grep { /^$pid PEM_read_bio_X509$/ } <$fh>;
}

# Certificate files read (and hashed) by the module in process $pid so far
sub reads {
    my ($pid) = @_;
    open my $fh, '<', $watch or return 0;
    return scalar grep { /^$pid PEM_bytes_read_bio$/ } <$fh>;
}

sub vh {
    my ($leaf) = @_;
    return { name => $leaf, leaf => $leaf, port => free_port(), servername => "$leaf.test",
             conf => "OCSPPrefetch on\nOCSPPrefetchResponder http://127.0.0.1:$rp/good/\n" };
}
my @base = map { vh($_) } qw(graceful store1 store2);
my $added = vh('persist');
# One vhost's certificate file is a copy of its own, to be touched below.
my $copy = work_dir() . "/restartparse-store2.chain.pem";
{
    use File::Copy qw(copy);
    copy(leaf('store2')->{chain}, $copy) or BAIL_OUT("cannot copy the chain: $!");
    chmod 0644, $copy;
    $base[2]{certfile} = $copy;
}

my $h = OCSPTest::Httpd->new(name => 'restartparse',
    env => { LD_PRELOAD => $shim, OPF_PARSEWATCH_CERTS_LOG => $watch },
    global => "OCSPPrefetchRetryDelay 1s 2s\n",
    vhosts => [ @base ]);
$h->start;
my $pid = $h->pid;

# Every vhost of the current configuration serves a valid, good staple.
sub all_stapled {
    for my $v (@{ $h->{vhosts} }) {
        my $ok = wait_until(15, sub {
            my $g = get_staple(port => $v->{port}, sni => $v->{servername}, timeout => 2);
            return 0 unless defined $g->{der};
            my $s = verify_staple($g->{der}, $v->{leaf});
            $s->{verify_ok} && ($s->{status} // '') eq 'good';
        }, 0.25);
        return 0 unless $ok;
    }
    return 1;
}
ok(all_stapled(), 'start: every vhost staples a valid, good response');

my $n0 = parses($pid);
ok($n0 >= 3, "control: the first start parses the certificates in the module ($n0 parses seen)");
my $r0 = reads($pid);
ok($r0 >= 3, "control: the first start reads the certificate files ($r0 reads seen)");

# graceful restart: waits for the new generation and a handshake; the
# certificates parsed meanwhile (and the files read, in $LAST_READS)
our $LAST_READS;
sub graceful_parses {
    my ($what) = @_;
    my $before = parses($pid);
    my $rbefore = reads($pid);
    my $t = eval { $h->graceful(timeout => 30) };
    ok(defined $t, "$what completes") or diag($@);
    $LAST_READS = reads($pid) - $rbefore;
    return parses($pid) - $before;
}

for my $i (1 .. 2) {
    my $n = graceful_parses("graceful restart $i, same configuration");
    is($n, 0, '... the module parsed no certificate');
    is($LAST_READS, 0, '... and read no certificate file');
}
ok(all_stapled(), '... every vhost still staples a valid response');

# SIGHUP: a restart that also replaces the children at once
{
    my $before = parses($pid);
    my $gen = $h->generation_count;
    kill 'HUP', $pid;
    ok(wait_until(30, sub { $h->generation_count > $gen }, 0.05), 'SIGHUP restart completes');
    all_stapled();
    is(parses($pid) - $before, 0, '... the module parsed no certificate');
}

$h->{vhosts} = [ @base, $added ];
$h->write_config;
is(graceful_parses('graceful restart adding a vhost'), 1,
   '... the module parsed one certificate: the new leaf (its issuer is known)');
is($LAST_READS, 1, '... and read one certificate file, the new one, once');
ok(all_stapled(), '... the new vhost staples too');

$h->{vhosts} = [ @base ];
$h->write_config;
is(graceful_parses('graceful restart removing it'), 0, '... nothing parsed');

$h->{vhosts} = [ @base, $added ];
$h->write_config;
is(graceful_parses('graceful restart adding it back'), 1,
   '... its leaf is parsed again: it was freed when the vhost went away');

# The same bytes written again: a new change time, so read again, but the
# digest is known: nothing parsed.
{
    my $pem = do { local $/; open my $fh, '<', $copy or die; <$fh> };
    open my $fh, '>', $copy or die "cannot rewrite $copy: $!";
    print $fh $pem;
    close $fh;
}
is(graceful_parses('graceful restart after a certificate file was rewritten'), 0,
   '... the module parsed no certificate');
is($LAST_READS, 1, '... and read that file again, once');
ok(all_stapled(), '... every vhost still staples a valid response');

is($h->pid, $pid, 'the same parent process throughout');
unlike($h->log_content, qr/exit signal|Segmentation|AH00052|double free|corrupted/,
       'no crash in the error log');
ok($h->stop, 'httpd stops');
ok(wait_until(10, sub { open my $fh, '<', $watch or return 0;
                        scalar grep { /^$pid exit$/ } <$fh> }, 0.1),
   '... and its parent process exited normally (no crash at exit)');
