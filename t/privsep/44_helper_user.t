# OCSPPrefetchHelperUser (issue 13): the privilege separation helper runs as
# a user of its own, not as User, so that code running as User (CGI, PHP)
# can neither signal nor ptrace it.
# With OCSPPrefetchHelperUser daemon (httpd's User is nobody): the helper's
# real, effective, saved and filesystem uid and gid are daemon's, it has no
# supplementary group, NoNewPrivs is 1 and it is not dumpable (its /proc
# files belong to root); a process running as nobody gets EPERM from
# kill(0) and kill(SIGSTOP) on it, while one running as daemon may signal
# it (so the check can tell); the staple is served and valid; the start-up
# line names its uid and gid.
# With a user that does not exist: the server starts, one warning names the
# user, says the helper runs as User instead and how to fix it; the helper
# runs as nobody (whom nobody can signal: the gap the warning is about);
# staples are valid; a graceful restart keeps the helper and does not repeat
# the warning.
use strict;
use warnings;
use FindBin; use lib "$FindBin::Bin/../lib";
use Apache::Test qw(-withtestmore);
use Cwd qw(abs_path);
use POSIX ();
use OCSPTest qw(module_built wait_until responder_port helper_path slurp);
use OCSPTest::Httpd;
use OCSPTest::Client qw(verify_staple);

plan tests => 22, need { 'module not built (stand-in run)' => module_built(),
                         'helper not built' => -x helper_path(),
                         'not root: the helper keeps our ids' => $> == 0,
                         'no daemon account' => defined getpwnam('daemon'),
                         'no /proc' => -d "/proc/$$" };

my $rp = responder_port();
my $helper = abs_path(helper_path());
my ($d_uid, $d_gid) = (getpwnam('daemon'))[2, 3];
my ($n_uid, $n_gid) = (getpwnam('nobody'))[2, 3];

# the parent's children whose executable is the helper: pids
sub helper_pids {
    my ($h) = @_;
    return grep { (readlink("/proc/$_/exe") // '') eq $helper } $h->children;
}

# /proc/PID/status as { Uid => [r, e, s, fs], Gid => [...], Groups => [...],
# NoNewPrivs => n }
sub status {
    my ($pid) = @_;
    my $st = slurp("/proc/$pid/status") // return {};
    my %s;
    for (split /\n/, $st) {
        my ($k, $v) = /^(\w+):\s*(.*)$/ or next;
        $s{$k} = [ split ' ', $v ];
    }
    return \%s;
}

# kill($sig, $pid) from a process running as $user (its uid, primary gid,
# no other group): "ok", "EPERM" or another error
sub kill_as {
    my ($user, $sig, $pid) = @_;
    my ($uid, $gid) = (getpwnam($user))[2, 3];
    pipe(my $r, my $w) or die "pipe: $!";
    my $child = fork() // die "fork: $!";
    if (!$child) {
        close $r;
        $) = "$gid $gid";
        POSIX::setgid($gid);
        POSIX::setuid($uid);
        my $res;
        if ($< != $uid || $> != $uid || (split ' ', $()[0] != $gid) {
            $res = 'could not become ' . $user;
        }
        else {
            $res = kill($sig, $pid) ? 'ok' : $!{EPERM} ? 'EPERM' : "error: $!";
        }
        syswrite $w, $res;
        POSIX::_exit(0);
    }
    close $w;
    my $res = do { local $/; <$r> } // '';
    waitpid $child, 0;
    return $res;
}

sub staple_ok {
    my ($h) = @_;
    my $g = $h->staple('hu');
    return 0 unless $g->{ok} && defined $g->{der};
    my $v = verify_staple($g->{der}, 'good');
    return $v->{verify_ok} && ($v->{status} // '') eq 'good';
}

# a started server whose helper runs as OCSPPrefetchHelperUser $user
sub server {
    my ($name, $user) = @_;
    my $s = OCSPTest::Httpd->new(name => $name,
        global => "OCSPPrefetchPrivsep on \"$helper\"\nOCSPPrefetchHelperUser $user\n"
                . "OCSPPrefetchStartupWait 5\n",
        vhosts => [ { name => 'hu', leaf => 'good',
                      conf => "OCSPPrefetch on\nOCSPPrefetchResponder http://127.0.0.1:$rp/good/\n" } ]);
    $s->start;
    return $s;
}

# --- OCSPPrefetchHelperUser daemon --------------------------------------------
my $h = server('helper-user', 'daemon');
ok(staple_ok($h), 'helper user daemon: the staple is served, good and valid');
ok(scalar $h->log_lines(qr/OCSPPrefetchPrivsep: helper process \d+ .* as uid $d_uid gid $d_gid$/),
   "... the start-up line says uid $d_uid gid $d_gid") or diag($h->log_tail);
my @hp = helper_pids($h);
is(scalar @hp, 1, '... one helper process');
my $pid = $hp[0] // 0;
my $st = status($pid);
is(join(' ', @{ $st->{Uid} // [] }), join(' ', ($d_uid) x 4),
   "... its real, effective, saved and filesystem uid are daemon's ($d_uid)");
is(join(' ', @{ $st->{Gid} // [] }), join(' ', ($d_gid) x 4),
   "... its gids are daemon's primary group ($d_gid)");
ok($st->{Groups} && !@{ $st->{Groups} }, '... it has no supplementary group')
    or diag('Groups: ' . join(' ', @{ $st->{Groups} // ['?'] }));
is($st->{NoNewPrivs}[0] // '', '1', '... NoNewPrivs: 1');
# A process that is not dumpable has its /proc/PID files owned by root (the
# change of uid already clears it where fs.suid_dumpable is 0, the default;
# the helper also says so itself, for systems where it is not).
is((stat("/proc/$pid/status"))[4] // -1, 0,
   '... it is not dumpable (its /proc files belong to root, not daemon)');
is(kill_as('nobody', 0, $pid), 'EPERM', 'a process running as nobody (User) cannot signal it: kill 0 gives EPERM');
is(kill_as('nobody', 'STOP', $pid), 'EPERM', '... nor SIGSTOP it');
kill 'CONT', $pid;   # had it been stopped, the rest would fail for that
is(kill_as('daemon', 0, $pid), 'ok', '... while one running as daemon may (the check can tell)');
ok(staple_ok($h), '... and the staple is still served and valid');
ok(!$h->log_lines(qr/does not exist|has gone away/), 'no warning about the user, the helper did not die');
$h->stop;

# --- a user that does not exist: User, with a warning --------------------------
my $none = 'opf-no-such-user';
die "$none exists\n" if defined getpwnam($none);
my $f = server('helper-user-missing', $none);
ok(staple_ok($f), 'helper user missing: the server starts and the staple is valid');
my @w = $f->log_lines(qr/OCSPPrefetchHelperUser/);
is(scalar @w, 1, '... one line about it') or diag(join "\n", @w);
like($w[0] // '', qr/\[ocsp_prefetch:warn\].*OCSPPrefetchHelperUser: the user \Q$none\E does not exist; the helper runs as User \(nobody\) instead.*adduser --system .*\Q$none\E.*OCSPPrefetchHelperUser/,
     '... a warning: names the user, says the helper runs as User, and how to fix it');
@hp = helper_pids($f);
$st = status($hp[0] // 0);
is(join(' ', @{ $st->{Uid} // [] }), join(' ', ($n_uid) x 4), "... the helper runs as nobody ($n_uid)");
is(join(' ', @{ $st->{Gid} // [] }), join(' ', ($n_gid) x 4), '... with nobody\'s group');
is(kill_as('nobody', 0, $hp[0] // 0), 'ok', '... and User can signal it (the gap the warning names)');
my $old = $hp[0] // 0;
$f->graceful;
@hp = helper_pids($f);
ok(@hp == 1 && $hp[0] == $old, 'graceful restart: the helper is kept (the same user)');
ok(staple_ok($f), '... staples');
is(scalar $f->log_lines(qr/OCSPPrefetchHelperUser/), 1, '... and the warning is not repeated');
$f->stop;
