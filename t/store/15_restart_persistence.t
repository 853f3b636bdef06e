# Staples survive restarts (issue 3, rule 1), with the responder refusing
# connections.  Own responder on its own port and two own servers:
#   t15-persist  OCSPPrefetchRenewWindow 2d (a refresh round every 1-2 s, so
#                the outage is noticed and every round fails);
#   t15-nostore  the same with OCSPPrefetchStore off.
# After the first fetches the responder is stopped.  Then the FIRST handshake
# after `-k graceful`, after `-k restart`, after `-k stop` + start, and of a
# brand-new server (other ServerRoot, config, ports, process; its only link to
# the first is OCSPPrefetchStore pointing at the same directory) carries the
# last good staple: the same bytes as before the outage, verified with
# `openssl ocsp`.  The error log names where each came from.  With the store
# off the staple survives a graceful restart (previous generation) but not a
# stop/start: so the store is what carried it.  Store directory 0700, file
# 0600, both owned by the server's user, no temporary file left behind.  A
# store file lost while the server runs is written again by the next
# generation, from what it carries over.
use strict;
use warnings;
use FindBin; use lib "$FindBin::Bin/../lib";
use Apache::Test qw(-withtestmore);
use Time::HiRes qw(time);
use IO::Socket::INET;
use OCSPTest qw(module_built free_port wait_until);
use OCSPTest::Httpd;
use OCSPTest::Responder;
use OCSPTest::Client qw(verify_staple);
use OCSPTest::Persist qw(store_file read_store restart_first);

plan tests => 45, need { 'module not built (stand-in run)' => module_built() };

my $rport = free_port();
my $r = OCSPTest::Responder->start(port => $rport, lifetime => 180);
my $url = "http://127.0.0.1:$rport/good/";
my $glob = "OCSPPrefetchRenewWindow 2d\nOCSPPrefetchRetryDelay 1s 2s\nOCSPPrefetchTimeout 2\n";
my $p = OCSPTest::Httpd->new(name => 't15-persist', global => $glob,
    vhosts => [ { name => 'persist', conf => "OCSPPrefetch on\nOCSPPrefetchResponder $url\n" } ]);
my $n = OCSPTest::Httpd->new(name => 't15-nostore', global => $glob . "OCSPPrefetchStore off\n",
    vhosts => [ { name => 'nostore', conf => "OCSPPrefetch on\nOCSPPrefetchResponder $url\n" } ]);
my $pstore = $p->root . "/ocsp-store";
my $pfile = store_file($pstore, 'persist');

$p->start;
$n->start;
ok($p->first_handshake && defined $p->first_handshake->{der}, 'persist: first handshake stapled (responder up)');
ok($n->first_handshake && defined $n->first_handshake->{der}, 'nostore: first handshake stapled (responder up)');

# the responder goes away: connections refused from now on
my $poff = -s $p->error_log;
my $noff = -s $n->error_log;
$r->stop;
my $refused = !IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $rport, Proto => 'tcp', Timeout => 1);
ok($refused, "responder stopped: 127.0.0.1:$rport refuses connections");
ok(wait_until(10, sub { grep { /OCSP fetch failed/ } split /\n/, $p->log_content($poff) }, 0.1),
   'persist: the module noticed (a refresh round failed)');
ok(wait_until(10, sub { grep { /OCSP fetch failed/ } split /\n/, $n->log_content($noff) }, 0.1),
   'nostore: the module noticed (a refresh round failed)');

# the last good staple, as served during the outage
my $S = $p->staple('persist');
ok(defined $S->{der}, 'persist: staple still served during the outage');
my $sv = $S->{der} ? verify_staple($S->{der}, 'persist') : {};
ok($sv->{verify_ok} && ($sv->{status} // '') eq 'good', '... it verifies and says good') or diag($sv->{text} // '');
my $NS = $n->staple('nostore');
ok(defined $NS->{der}, 'nostore: staple still served during the outage');

# the store holds exactly that response, with safe permissions
ok(-f $pfile, 'persist: store file exists for the certificate');
is(read_store($pfile), $S->{der}, '... holding the last good response (same bytes as the staple)');
my @ds = stat $pstore;
my @fs = stat $pfile;
is(sprintf('%04o', $ds[2] & 07777), '0700', 'store directory mode 0700');
is(sprintf('%04o', $fs[2] & 07777), '0600', 'store file mode 0600');
ok($ds[4] == $> && $fs[4] == $>, "store directory and file owned by the server's user (uid $>)");
opendir(my $dh, $pstore) or die "$pstore: $!";
my @left = grep { !/^\.\.?$/ && !/\.ocsp$/ } readdir $dh;
closedir $dh;
is(scalar @left, 0, 'no temporary or other file in the store') or diag("@left");

sub same_staple {
    my ($g, $what) = @_;
    ok($g && $g->{ok} && defined $g->{der}, "$what: the first handshake carries a staple");
    ok(defined $g->{der} && $g->{der} eq ($S->{der} // ''), "$what: ... the last good one (same bytes)");
    my $v = $g && $g->{der} ? verify_staple($g->{der}, 'persist') : {};
    ok($v->{verify_ok} && ($v->{status} // '') eq 'good' && !$v->{status_times_invalid},
       "$what: ... it verifies, good, times valid") or diag($v->{text} // '');
}

# 1. graceful
my ($g, $t) = restart_first($p, 'graceful');
same_staple($g, '-k graceful');
ok(scalar($p->log_lines(qr/persist\.test.*stapling the OCSP response from the previous generation/)) >= 1,
   '-k graceful: log says it came from the previous generation');

# 2. restart (SIGHUP: children killed, config re-read in the same parent)
($g, $t) = restart_first($p, 'restart');
same_staple($g, '-k restart');

# the store loses the file (the responder is still down): the next
# generation writes back the response it carries over
unlink $pfile;
ok(!-e $pfile, 'the store file is removed while the server runs');
restart_first($p, 'graceful');
ok(wait_until(5, sub { -f $pfile }, 0.05), '-k graceful: the new generation writes it again');
is(read_store($pfile), $S->{der}, '... the response it carried over (same bytes)');

# 3. stop + start: a new parent, only the store can carry it
ok($p->stop, '-k stop: server stopped');
my $t0 = time;
$p->start;
same_staple($p->first_handshake, '-k stop + start');
ok(scalar($p->log_lines(qr/persist\.test.*stapling the OCSP response from the store/)) == 1,
   'stop + start: log says it came from the store');
ok($p->stop, 'persist: stopped again');

# 4. "reboot": a new server with its own root, config and ports; the store
#    directory is the only thing it shares with the first one
my $q = OCSPTest::Httpd->new(name => 't15-reboot', global => $glob . "OCSPPrefetchStore \"$pstore\"\n",
    vhosts => [ { name => 'persist', conf => "OCSPPrefetch on\nOCSPPrefetchResponder $url\n" } ]);
isnt($q->port('persist'), $p->port('persist'), 'reboot: another port');
$q->start;
same_staple($q->first_handshake, 'new server (store only)');
ok(scalar($q->log_lines(qr/persist\.test.*stapling the OCSP response from the store/)) == 1,
   'new server: log says it came from the store');
ok(scalar($q->log_lines(qr/started: 1 certificate: 1 from the previous generation or the store/)) == 1,
   'new server: startup summary counts it as seeded');
ok($q->stop, 'new server stopped');

# OCSPPrefetchStore off: the previous generation carries it over a graceful
# restart, nothing carries it over a stop/start
($g) = restart_first($n, 'graceful');
ok(defined $g->{der} && $g->{der} eq ($NS->{der} // ''), 'store off: first handshake after -k graceful still stapled (process pool)');
ok($n->stop, 'store off: stopped');
$n->start;
my $f = $n->first_handshake;
ok($f && $f->{ok} && !defined $f->{der}, 'store off: first handshake after stop + start has no staple');
my @later = map { $n->staple('nostore') } 1 .. 3;
ok(!(grep { defined $_->{der} } @later), '... nor the next ones (responder down)');
ok(!-e $n->root . "/ocsp-store", 'store off: no store directory was created');
ok(scalar($n->log_lines(qr/store off\)/)) >= 1, 'store off: startup summary says "store off"');
ok($n->stop, 'store off: stopped');

unlike(join('', map { $_->log_content } $p, $q, $n), qr/exit signal|Segmentation|AH00052/, 'no crash');
