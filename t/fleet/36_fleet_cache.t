# A fleet cache (issue 15, items 1, 2 and 5): OCSPPrefetchCache redis:...
# or memcache:... against a real redis-server and memcached (Debian's
# packages, started on ports of their own and stopped by this test).
#
# What it shows, for each of the two (redis under prefork with a fork per
# connection, memcache under event):
#   - the children staple from this server's own cache, never from the
#     network one: concurrent handshakes over eleven SNI names, every
#     staple byte for byte that name's verified response (with the shared
#     connection of the old code, some carried another certificate's);
#     records written into the shared cache by an attacker (garbage,
#     another certificate's record under this one's key, 100 KB) are never
#     stapled;
#   - every accepted response is published under the certificate's key,
#     bound to it (the key is inside the record), DER as stapled;
#   - newer wins: a newer shared record (even "revoked") is kept, an older
#     one or one claiming a thisUpdate a day ahead is replaced;
#   - no cache connection crosses a fork: the parent holds one, no child
#     of it does;
#   - the cache stopped (SIGSTOP: memcache reads never time out) or killed
#     and restarted under load: stapling goes on, the outage is logged
#     once and its end once, a graceful restart and the stop stay fast;
#   - ten graceful restarts leave no thread or descriptor behind.
# Teeth: with the children reading the network cache (the code before),
# the wrong-key record is stapled (test "attacker records") and children
# hold the parent's connection; with the thread's cache I/O in the fork
# gate, the paused cache stops the graceful restart.
use strict;
use warnings;
use FindBin; use lib "$FindBin::Bin/../lib";
use Apache::Test qw(-withtestmore);
use POSIX ();
use Time::HiRes qw(time sleep);
use OCSPTest qw(module_built wait_until responder_port free_port slurp log_size alive);
use OCSPTest::Httpd;
use OCSPTest::KV;
*cert_key = \&OCSPTest::KV::cert_key;
*fleet_key = \&OCSPTest::KV::fleet_key;
*decode_record = \&OCSPTest::KV::decode_record;
*encode_record = \&OCSPTest::KV::encode_record;
use OCSPTest::Client qw(get_staple verify_staple);

my @KINDS = grep { OCSPTest::KV::have($_) } qw(redis memcache);
my $PER_KIND = 22;
plan tests => 2 * $PER_KIND, need {
    'module not built (stand-in run)' => module_built(),
    'redis-server and memcached (Debian packages) both needed' => @KINDS == 2,
};

my $rp = responder_port();
my @NAMES = qw(good dflt get post shared persist store1 store2 mda mdb msplain);

sub usec { int($_[0] * 1_000_000) }

# inodes of the TCP connections to 127.0.0.1:$port
sub conn_inodes {
    my $port = shift;
    my %ino;
    for my $f ('/proc/net/tcp', '/proc/net/tcp6') {
        open my $fh, '<', $f or next;
        while (<$fh>) {
            my @c = split;
            next unless $c[2] && $c[2] =~ /:([0-9A-F]{4})$/ && hex($1) == $port;
            $ino{$c[9]} = 1 if $c[9];
        }
    }
    return \%ino;
}
sub holds_conn {
    my ($pid, $ino) = @_;
    for my $fd (glob "/proc/$pid/fd/*") {
        my $t = readlink($fd) // next;
        return 1 if $t =~ /^socket:\[(\d+)\]$/ && $ino->{$1};
    }
    return 0;
}

# $n handshakes per client, $clients forked clients, round-robin over names:
# { total, failed, wrong, unstapled, why }
# $during->() runs in the test process while the clients run.
sub load {
    my ($port, $want, $clients, $n, $during) = @_;
    my @names = sort keys %$want;
    my @kids;
    for my $c (1 .. $clients) {
        pipe my $r, my $w or die;
        my $pid = fork // die;
        if (!$pid) {
            close $r;
            my %s = (total => 0, failed => 0, wrong => 0, unstapled => 0);
            my $why = '';
            for my $i (1 .. $n) {
                my $name = $names[($c + $i) % @names];
                my $g = get_staple(port => $port, sni => "$name.test", timeout => 5);
                $s{total}++;
                if (!$g->{ok}) { $s{failed}++; $why ||= "$name: $g->{error}" }
                elsif (!defined $g->{der}) { $s{unstapled}++; $why ||= "$name: no staple" }
                elsif ($g->{der} ne $want->{$name}) { $s{wrong}++; $why ||= "$name: another response" }
            }
            print $w join(' ', map { "$_=$s{$_}" } sort keys %s), "\n$why\n";
            close $w;
            POSIX::_exit(0);
        }
        close $w;
        push @kids, [$pid, $r];
    }
    $during->() if $during;
    my %t = (total => 0, failed => 0, wrong => 0, unstapled => 0, why => '');
    for my $k (@kids) {
        my $fh = $k->[1];
        my $l = <$fh> // '';
        my $why = <$fh> // '';
        chomp $why;
        $t{$1} += $2 while $l =~ /(\w+)=(\d+)/g;
        $t{why} ||= $why;
        waitpid $k->[0], 0;
    }
    return \%t;
}

for my $kind (qw(redis memcache)) {
    my $kv = OCSPTest::KV->start($kind);
    my $mpm = $kind eq 'redis' ? 'prefork' : 'event';
    my $port = free_port();
    my $name = "fleet-$kind";
    my @vhosts = map { { name => $_, port => $port,
                         conf => "OCSPPrefetch on\nOCSPPrefetchResponder http://127.0.0.1:$rp/good/\n" } } @NAMES;
    push @vhosts, { name => 'short', port => $port,
                    conf => "OCSPPrefetch on\nOCSPPrefetchResponder http://127.0.0.1:$rp/short/\n" };
    my $h = OCSPTest::Httpd->new(name => $name, mpm => $mpm,
        preload => "LoadModule socache_${kind}_module $OCSPTest::Httpd::MODDIR/mod_socache_$kind.so\n",
        global => "OCSPPrefetchCache " . $kv->spec . "\nOCSPPrefetchRenewWindow 59s\n"
                . "OCSPPrefetchRetryDelay 1s 2s\n"
                . ($mpm eq 'prefork' ? "MaxConnectionsPerChild 1\n" : ''),
        vhosts => \@vhosts);
    my $label = "$kind ($mpm)";

    # --- 1. up, every name stapled with its own verified response ----------
    $h->start;
    my @pub = $h->log_lines(qr/fleet cache \Q${\ $kv->spec }\E: accepted responses are published there/);
    ok(@pub, "$label: the fleet cache is announced") or diag($h->log_tail);
    my %want;
    for my $n (@NAMES) {
        my $v = {};
        wait_until(15, sub {
            my $g = $h->staple($n, timeout => 3);
            return 0 unless $g->{ok} && defined $g->{der};
            $v = verify_staple($g->{der}, $n);
            $want{$n} = $g->{der} if $v->{verify_ok} && ($v->{status} // '') eq 'good';
            defined $want{$n};
        }, 0.25);
    }
    is(scalar(keys %want), scalar @NAMES, "$label: every name has a good staple that verifies");

    # --- 2. published under each certificate's key, bound to it -------------
    my %bad;
    wait_until(10, sub {
        %bad = ();
        for my $n (@NAMES) {
            my $rec = decode_record($kv->get(fleet_key($n)));
            $bad{$n} = !$rec ? 'absent or malformed'
                     : $rec->{key} ne cert_key($n) ? 'another key inside'
                     : $rec->{der} ne ($want{$n} // '') ? 'other DER' : next;
        }
        !%bad;
    }, 0.25);
    ok(!%bad, "$label: the shared cache holds every certificate's response, bound to its key, DER as stapled")
        or diag(join ', ', map { "$_: $bad{$_}" } sort keys %bad);

    # --- 3. no cache connection crosses a fork ------------------------------
    my $ppid = $h->pid;
    my $parent_has = wait_until(10, sub { holds_conn($ppid, conn_inodes($kv->port)) }, 0.1);
    ok($parent_has, "$label: the parent holds a connection to the cache server");
    # children started after that connection existed
    my $r0 = load($port, \%want, 2, 10);
    my @kids = $h->children;
    my $ino = conn_inodes($kv->port);
    my @holding = grep { holds_conn($_, $ino) } @kids;
    # a child forked this very instant may still be in its atfork handler,
    # the one that covers the parent's connections: look again at those
    # a moment later (a real leak stays)
    if (@holding) {
        sleep 0.5;
        @holding = grep { alive($_) && holds_conn($_, $ino) } @holding;
    }
    ok(@kids && !@holding, "$label: none of the parent's " . scalar(@kids) . " children holds a cache connection")
        or diag("holding: @holding");

    # --- 4. concurrent handshakes over every name ---------------------------
    my $r = load($port, \%want, 6, 30);
    ok($r->{total} == 180 && !$r->{failed} && !$r->{unstapled} && !$r->{wrong},
       "$label: $r->{total} concurrent handshakes over " . scalar(@NAMES) . " names, each stapled "
       . "with its own response (failed $r->{failed}, unstapled $r->{unstapled}, another's $r->{wrong})")
        or diag($r->{why});

    # --- 5. what an attacker writes into the shared cache is never stapled --
    my $other = encode_record(status => 0, this => usec(time), next => usec(time + 3600),
                              key => cert_key('good'), der => $want{dflt});
    $kv->set(fleet_key('good'), $other);
    $kv->set(fleet_key('dflt'), "garbage" x 10);
    $kv->set(fleet_key('get'), 'X' x (100 * 1024));
    my %got = map { my $g = $h->staple($_, timeout => 3); ($_ => $g->{der} // '') } qw(good dflt get);
    ok($got{good} eq $want{good} && $got{dflt} eq $want{dflt} && $got{get} eq $want{get},
       "$label: attacker records (another certificate's response under this key, garbage, 100 KB) are never stapled");

    # --- 6. newer wins -------------------------------------------------------
    my $skey = fleet_key('short');
    my $cur;
    wait_until(10, sub { $cur = decode_record($kv->get($skey)) }, 0.1);
    ok($cur && $cur->{status} == 0, "$label: short.test is published (good)");
    my $newer = encode_record(status => 1, this => usec(time + 120), next => usec(time + 600),
                              key => cert_key('short'), der => $cur ? $cur->{der} : 'x');
    $kv->set($skey, $newer);
    my $off = log_size($h->error_log);
    my $renewals = wait_until(15, sub {
        my @l = OCSPTest::log_lines($h->error_log, qr/short\.test.*renewed/, $off); @l >= 3 });
    my $still = $kv->get($skey) // '';
    ok($renewals && $still eq $newer,
       "$label: a newer \"revoked\" in the shared cache is kept through 3 refreshes of this server");
    my @kept = OCSPTest::log_lines($h->error_log, qr/a newer response .* is there already: kept/, $off);
    ok(scalar @kept, "$label: ... and the debug log says so");
    for my $case ([ 'an older one', time - 86400 ], [ 'one dated a day ahead', time + 86400 ]) {
        $kv->set($skey, encode_record(status => 1, this => usec($case->[1]), next => usec(time + 600),
                                      key => cert_key('short'), der => $cur ? $cur->{der} : 'x'));
        my $rec;
        my $replaced = wait_until(10, sub {
            $rec = decode_record($kv->get($skey));
            $rec && $rec->{status} == 0 && abs($rec->{this} / 1e6 - time) < 300;
        }, 0.2);
        ok($replaced, "$label: $case->[0] is replaced by this server's response");
    }

    # --- 7. the cache stops answering ----------------------------------------
    $off = log_size($h->error_log);
    $kv->pause;
    my $told = wait_until(35, sub {
        OCSPTest::log_lines($h->error_log, qr/fleet cache .* (cannot be used|has not answered)/, $off) });
    ok($told, "$label: cache paused: the outage is logged") or diag($h->log_tail);
    my $rp1 = load($port, \%want, 4, 10);
    ok(!$rp1->{failed} && !$rp1->{unstapled} && !$rp1->{wrong},
       "$label: cache paused: handshakes all stapled with their own response ($rp1->{total})")
        or diag($rp1->{why});
    my $g_t0 = time;
    my $g_ok = eval { $h->graceful(timeout => 15); 1 };
    my $g_secs = time - $g_t0;
    ok($g_ok && $g_secs < 10, sprintf("$label: cache paused: a graceful restart completes (%.1f s)", $g_secs))
        or diag($@ // '');
    $kv->resume;
    my $back = wait_until(30, sub {
        OCSPTest::log_lines($h->error_log, qr/fleet cache .* answers again/, $off) });
    ok($back, "$label: cache resumed: its recovery is logged") or diag($h->log_tail);
    my @outages = OCSPTest::log_lines($h->error_log, qr/fleet cache .* cannot be used/, $off);
    is(scalar @outages, 1, "$label: the outage is logged once (across the graceful restart), not per response");

    # --- 8. killed and restarted under load -----------------------------------
    my $rk = load($port, \%want, 4, 15, sub { sleep 0.5; $kv->restart });
    ok(!$rk->{failed} && !$rk->{unstapled} && !$rk->{wrong},
       "$label: cache killed and restarted under load: handshakes all stapled ($rk->{total})")
        or diag($rk->{why});
    my $again = wait_until(20, sub { decode_record($kv->get($skey)) }, 0.25);
    ok($again, "$label: after the cache's restart, responses are published there again");

    # --- 9. graceful restarts: no thread, descriptor or closer left behind ---
    sub fd_count { my @f = glob("/proc/$_[0]/fd/*"); scalar @f }
    my $pp = $h->pid;
    my ($t0, $f0) = ($h->threads, fd_count($pp));
    my $restarts_ok = 1;
    for (1 .. 10) { $restarts_ok &&= eval { $h->graceful(timeout => 15); 1 } }
    # the thread reconnects on its next publish: compare with that in place
    wait_until(10, sub { holds_conn($pp, conn_inodes($kv->port)) }, 0.1);
    my ($t1, $f1) = ($h->threads, fd_count($pp));
    ok($restarts_ok && $t1 == $t0 && $f1 <= $f0 + 1,
       "$label: 10 graceful restarts: the parent's threads ($t0 -> $t1) and descriptors ($f0 -> $f1) do not grow")
        or diag($h->log_tail);
    my $g9 = $h->staple('good', timeout => 3);
    ok(($g9->{der} // '') eq $want{good}, "$label: ... and it still staples");

    # --- 10. stop while the cache is paused ----------------------------------
    $kv->pause;
    sleep 1.5;
    $h->wait_quiet(10) if $mpm eq 'prefork';
    my $s_t0 = time;
    my $stopped = $h->stop;
    my $s_secs = time - $s_t0;
    ok($stopped && $s_secs < 5, sprintf("$label: httpd stops while the cache is paused (%.1f s)", $s_secs))
        or diag($h->log_tail);
    $kv->resume;
    $kv->stop;
}
