# mod_md loaded together with this module (LoadModule md_module *before*
# ours: the hook order, not the load order, must decide), MDStapling on with
# MDStapleOthers on, no MDomain, so no ACME traffic:
#  - vhost mda (OCSPPrefetch on) is stapled by this module: GET requests for
#    its serial, never a POST (mod_md POSTs);
#  - vhost mdb (OCSPPrefetch off) is stapled by mod_md: POST requests for its
#    serial, never a GET; mod_md staples one certificate, not two.
use strict;
use warnings;
use FindBin; use lib "$FindBin::Bin/../lib";
use Apache::Test qw(-withtestmore);
use OCSPTest qw(module_built wait_until responder_port leaf_serial responder_requests
                log_lines);
use OCSPTest::Httpd;
use OCSPTest::Client qw(verify_staple);

my $MODDIR = $OCSPTest::Httpd::MODDIR;
plan tests => 15, need { 'module not built (stand-in run)' => module_built(),
                         'mod_md not installed' => -f "$MODDIR/mod_md.so" };

my $rp = responder_port();
my $root = OCSPTest::work_dir() . "/servers/md";
File::Path::remove_tree("$root/md");     # a fresh MDStoreDir (mod_md creates it)

my $h = OCSPTest::Httpd->new(name => 'md', loglevel => 'info ssl:warn md:debug',
    preload => "LoadModule md_module $MODDIR/mod_md.so\n",
    global  => "MDStoreDir \"$root/md\"\nMDStapling on\nMDStapleOthers on\n",
    vhosts  => [
        # both certificates name http://127.0.0.1:PORT/good/ as their OCSP URL
        { name => 'mda', conf => "OCSPPrefetch on\n" },
        { name => 'mdb', conf => "OCSPPrefetch off\n" },
    ]);
my ($rc, $out) = $h->configtest;
is($rc, 0, 'mod_md + mod_ocsp_prefetch: apache2 -t passes') or diag($out);
my $roff = -s OCSPTest::responder_log() || 0;
ok(eval { $h->start; 1 }, 'the server starts with both modules') or diag($@);

# A: this module
my $g = $h->first_handshake;
ok($g && defined $g->{der}, 'mda.test (OCSPPrefetch on): first handshake is stapled');
my $v = $g && $g->{der} ? verify_staple($g->{der}, 'mda') : {};
ok($v->{verify_ok} && ($v->{status} // '') eq 'good', '... good staple that verifies') or diag($v->{text} // '');

# B: mod_md (its watchdog in the child fetches; bounded wait)
my $gb;
wait_until(15, sub { $gb = $h->staple('mdb'); defined $gb->{der} }, 0.25);
ok(defined $gb->{der}, 'mdb.test (OCSPPrefetch off, MDStapling on): stapled by mod_md');
$v = $gb->{der} ? verify_staple($gb->{der}, 'mdb') : {};
ok($v->{verify_ok} && ($v->{status} // '') eq 'good', '... good staple that verifies') or diag($v->{text} // '');

my @a = responder_requests(off => $roff, serial => leaf_serial('mda'));
my @b = responder_requests(off => $roff, serial => leaf_serial('mdb'));
ok(scalar(grep { $_->{method} eq 'GET' } @a), 'mda: GET requests (this module)');
is(scalar(grep { $_->{method} ne 'GET' } @a), 0, 'mda: no POST (mod_md did not fetch it)')
    or diag(join "\n", map { $_->{line} } @a);
ok(scalar(grep { $_->{method} eq 'POST' } @b), 'mdb: POST requests (mod_md)');
is(scalar(grep { $_->{method} ne 'POST' } @b), 0, 'mdb: no GET (this module did not fetch it)')
    or diag(join "\n", map { $_->{line} } @b);

my @log = $h->log_lines;
ok((grep { /\bregistered\b.*\bmda\.test\b/ } @log) && !(grep { /\bregistered\b.*\bmdb\.test\b/ } @log),
   'this module registered mda.test only');
my @md = grep { /md ocsp watchdog (start|run), ocsp stapling (\d+) certificates/ } @log;
ok(@md && !(grep { !/ocsp stapling 1 certificates/ } @md), 'mod_md staples exactly 1 certificate')
    or diag(join "\n", @md);
my @err = grep { /\[(md|ocsp_prefetch|ssl):(error|crit|alert|emerg)\]/ } @log;
is(scalar @err, 0, 'no error from mod_md, mod_ssl or this module') or diag(join "\n", @err);
# no ACME: no MDomain, so mod_md has nothing to drive, and it says so
ok((grep { /no mds to supervise/ } @log) && !(grep { /acme|directory/i && /md:/ && !/store directory/ } @log),
   'mod_md supervises no domain and mentions no ACME activity');
ok($h->stop, 'server stops');
