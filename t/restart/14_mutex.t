# The cache mutex is registered with ap_mutex_register, so the Mutex
# directive configures it: `Mutex file:DIR ocsp-prefetch-cache` (the lock file
# appears in DIR) and `Mutex sem ocsp-prefetch-cache` both start, and the
# first handshake is stapled (shmcb needs the mutex: children lock it too).
use strict;
use warnings;
use FindBin; use lib "$FindBin::Bin/../lib";
use Apache::Test qw(-withtestmore);
use File::Path qw(make_path remove_tree);
use OCSPTest qw(module_built responder_port work_dir);
use OCSPTest::Httpd;
use OCSPTest::Client qw(verify_staple);

plan tests => 2 * 6 + 1, need { 'module not built (stand-in run)' => module_built() };

my $rp = responder_port();
my $lockdir = work_dir() . "/servers/mutex-file/locks";
remove_tree($lockdir);
make_path($lockdir);
chmod 0755, $lockdir;

for my $m ("file:$lockdir", 'sem') {
    my $name = $m eq 'sem' ? 'mutex-sem' : 'mutex-file';
    my $h = OCSPTest::Httpd->new(name => $name,
        global => "Mutex $m ocsp-prefetch-cache\n",
        vhosts => [ { name => 'mutex', conf => "OCSPPrefetch on\nOCSPPrefetchResponder http://127.0.0.1:$rp/good/\n" } ]);
    my ($rc, $out) = $h->configtest;
    is($rc, 0, "Mutex $m ocsp-prefetch-cache: apache2 -t passes") or diag($out);
    ok(eval { $h->start; 1 }, "... the server starts") or diag($@);
    my $g = $h->first_handshake;
    ok($g && defined $g->{der}, '... the first handshake is stapled');
    my $v = $g && $g->{der} ? verify_staple($g->{der}, 'mutex') : {};
    ok($v->{verify_ok} && ($v->{status} // '') eq 'good', '... good staple that verifies') or diag($v->{text} // '');
    # children take the mutex on every lookup: several handshakes in a row
    my @g = map { $h->staple('mutex') } 1 .. 5;
    is(scalar(grep { $_->{ok} && defined $_->{der} } @g), 5, '... 5 more handshakes, all stapled');
    my @bad = $h->log_lines(qr/cannot (lock|re-attach|create)|mutex/i);
    @bad = grep { /:(error|crit|alert|emerg)\]/ } @bad;
    is(scalar @bad, 0, '... no mutex error in the log') or diag(join "\n", @bad);
    if ($m ne 'sem') {
        # fcntl lock files are unlinked right after creation: look for the
        # parent's open descriptor on it
        my $pid = $h->pid;
        my @f = grep { m{^\Q$lockdir\E/ocsp-prefetch-cache} }
                map { readlink($_) // '' } glob("/proc/$pid/fd/*");
        ok(@f >= 1, "the parent holds its lock file in the Mutex directory (@f)");
    }
    $h->stop;
}
