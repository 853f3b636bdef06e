# httpd's children hold none of the module's descriptors (issue 12).
# Children are forked, not exec'd: whatever the parent has open when it
# forks (the engine's epoll fd and wakeup pipe, fetch sockets, the channels
# to the privsep helper, the resolver and the notifier) is in every child
# unless the module closes it there.
# Differential: the same prefork config (MaxConnectionsPerChild 1) runs
# twice, as a baseline with the module loaded and OCSPPrefetch off in every
# vhost, and with it on: three vhosts on one port, one with a /short/
# responder (refetched every second), one whose responder is named by host
# name (http://localhost:PORT/: the resolver process runs), one whose
# responder is a loopback listener of this test that accepts and never
# answers (OCSPPrefetchTimeout 30: a fetch stays in flight), plus
# OCSPPrefetchNotifyCmd /bin/true (the notifier runs).  Once that fetch is
# in flight, three connections make the parent fork new children.  In each
# worker child (a child of the parent holding the vhost's listening
# socket), a descriptor is "inherited" when it is the same open file as one
# of the parent's (kcmp(2) KCMP_FILE; readlink text when kcmp is refused).
# Twice: OCSPPrefetchPrivsep off (fetch sockets in the parent) and on (the
# helper fetches).  Per run: the parent really holds more sockets/pipes/
# epoll fds than the baseline's (the check is not vacuous), the fetch was in
# flight, children were forked meanwhile; then per class (listening socket,
# TCP, unix, other socket, pipe, anon_inode, file) no child inherited more
# than the baseline's children, none inherited a non-listening TCP socket,
# a unix socket or pipe whose other end is in one of the module's processes
# (helper, resolver, notifier: the parent's children that are not workers),
# or an anon_inode (epoll).
use strict;
use warnings;
use FindBin; use lib "$FindBin::Bin/../lib";
use Apache::Test qw(-withtestmore);
use Cwd qw(abs_path);
use IO::Socket::INET;
use IO::Select;
use Time::HiRes qw(time sleep);
use OCSPTest qw(module_built wait_until responder_port free_port slurp alive helper_path);
use OCSPTest::Httpd;
use OCSPTest::Client qw(get_staple);

plan tests => 14, need { 'module not built (stand-in run)' => module_built(),
                         'helper not built' => -x helper_path(),
                         'prefork MPM not found' => -f "$OCSPTest::Httpd::MODDIR/mod_mpm_prefork.so",
                         'no /proc' => -d "/proc/$$/fd" };

my $rp = responder_port();
my $helper = abs_path(helper_path());

# --- /proc helpers -----------------------------------------------------------
sub fd_targets {           # { fd => readlink target }
    my ($pid) = @_;
    my %t;
    opendir my $d, "/proc/$pid/fd" or return {};
    for my $fd (grep { /^\d+$/ } readdir $d) {
        my $l = readlink("/proc/$pid/fd/$fd");
        $t{$fd} = $l if defined $l;
    }
    return \%t;
}

# socket inode => { proto, listen, remote_port }
sub sockets {
    my ($pid) = @_;
    my %s;
    for my $p (qw(tcp tcp6)) {
        open my $fh, '<', "/proc/$pid/net/$p" or next;
        <$fh>;
        while (<$fh>) {
            my @f = split;
            next unless @f > 9;
            $s{$f[9]} = { proto => 'tcp', listen => $f[3] eq '0A' ? 1 : 0,
                          local_port => hex((split /:/, $f[1])[1]),
                          remote_port => hex((split /:/, $f[2])[1]) };
        }
    }
    if (open my $fh, '<', "/proc/$pid/net/unix") {
        <$fh>;
        while (<$fh>) {
            my @f = split;
            next unless @f > 6;
            # Flags 00010000: __SO_ACCEPTCON, a listening socket
            $s{$f[6]} = { proto => 'unix', listen => (hex($f[3]) & 0x10000) ? 1 : 0 };
        }
    }
    return \%s;
}

# unix socket inode => its peer's inode (ss -x prints both)
sub unix_peers {
    my %p;
    for (`ss -xan 2>/dev/null`) {
        my @f = split;
        next unless @f >= 8 && $f[5] =~ /^\d+$/ && $f[7] =~ /^\d+$/;
        $p{$f[5]} = $f[7] if $f[7];
    }
    return \%p;
}

sub classify {
    my ($t, $socks) = @_;
    if ($t =~ /^socket:\[(\d+)\]$/) {
        my $s = $socks->{$1} or return 'socket-other';
        return 'listen' if $s->{listen};
        return $s->{proto};          # tcp | unix: connected or unconnected
    }
    return 'pipe'       if $t =~ /^pipe:/;
    return 'anon_inode' if $t =~ /^anon_inode:/;
    return 'file'       if $t =~ m{^/};
    return 'other';
}

# kcmp(pid1, pid2, KCMP_FILE, fd1, fd2) == 0: the same open file
my $SYS_kcmp = eval { require 'syscall.ph'; &SYS_kcmp() } // ($^O eq 'linux' && `uname -m` =~ /x86_64/ ? 312 : undef);
my $kcmp_refused = 0;
sub same_file {
    my ($p1, $p2, $f1, $f2) = @_;
    if (defined $SYS_kcmp) {
        # numbers, not strings: syscall() passes a string as a pointer
        my $r = syscall($SYS_kcmp, $p1 + 0, $p2 + 0, 0, $f1 + 0, $f2 + 0);
        return $r == 0 if $r >= 0;
    }
    $kcmp_refused++;
    return 1;   # the caller compared the readlink texts already
}

# the child's descriptors (> 2) that are open files of the parent too
sub inherited {
    my ($parent, $pt, $child) = @_;
    my $ct = fd_targets($child);
    my %by_text;
    push @{ $by_text{$pt->{$_}} }, $_ for keys %$pt;
    my %inh;
    for my $cfd (keys %$ct) {
        next if $cfd <= 2;
        for my $pfd (@{ $by_text{$ct->{$cfd}} || [] }) {
            if (same_file($child, $parent, $cfd, $pfd)) { $inh{$cfd} = $ct->{$cfd}; last }
        }
    }
    return \%inh;
}

sub comm { my $c = slurp("/proc/$_[0]/comm") // ''; chomp $c; $c }

# --- one server: start, a fetch in flight, fork children, inspect ----------
sub inspect {
    my (%a) = @_;    # on, privsep
    my $on = $a{on} ? 'on' : 'off';
    my $hang = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Proto => 'tcp',
                                     Listen => 16, ReuseAddr => 1) or die "listen: $!";
    my $hp = $hang->sockport;
    my $port = free_port();
    my $name = "childfds-$on-" . ($a{privsep} ? 'helper' : 'parent');
    my $h = OCSPTest::Httpd->new(name => $name, mpm => 'prefork',
        global => ($a{privsep} ? "OCSPPrefetchPrivsep on \"$helper\"\n" : "OCSPPrefetchPrivsep off\n")
                . <<"EOC",
StartServers 1
MinSpareServers 1
MaxSpareServers 2
MaxConnectionsPerChild 1
OCSPPrefetchNotifyCmd /bin/true
OCSPPrefetchTimeout 30
OCSPPrefetchStartupWait 1
OCSPPrefetchRenewWindow 59s
OCSPPrefetchRetryDelay 1s 2s
EOC
        vhosts => [
            { name => 'post', port => $port,
              conf => "OCSPPrefetch $on\nOCSPPrefetchResponder http://127.0.0.1:$rp/short/\n" },
            { name => 'get', port => $port,
              conf => "OCSPPrefetch $on\nOCSPPrefetchResponder http://localhost:$rp/good/\n" },
            { name => 'errs', port => $port,
              conf => "OCSPPrefetch $on\nOCSPPrefetchResponder http://127.0.0.1:$hp/never-answers/\n" },
        ]);
    my %r = (name => $name);
    unless (eval { $h->start; 1 }) {
        $r{error} = "$name did not start: $@";
        return \%r;
    }
    my $ppid = $h->pid;
    # the fetch to the silent responder is in flight once it is accepted
    my @accepted;
    if ($a{on}) {
        my $sel = IO::Select->new($hang);
        wait_until(10, sub {
            while ($sel->can_read(0.05)) { my $c = $hang->accept or last; push @accepted, $c }
            @accepted }, 0.05);
        $r{accepted} = scalar @accepted;
        # which process holds the fetch socket (parent or helper)?
        my $socks = sockets($ppid);
        for my $pid ($ppid, $h->children) {
            my $t = fd_targets($pid);
            for (values %$t) {
                my ($ino) = /^socket:\[(\d+)\]$/ or next;
                my $s = $socks->{$ino} or next;
                push @{ $r{fetch_holders} }, $pid == $ppid ? 'parent' : comm($pid) . "[$pid]"
                    if $s->{proto} eq 'tcp' && !$s->{listen} && $s->{remote_port} == $hp;
            }
        }
    }
    # new children: each connection ends its child (MaxConnectionsPerChild 1)
    my %before = map { $_ => 1 } $h->children;
    get_staple(port => $port, sni => 'post.test', timeout => 3) for 1 .. 3;

    # the parent's listening socket of the vhosts' port
    my $socks = sockets($ppid);
    my $pt = fd_targets($ppid);
    my ($listener) = grep { my ($i) = $pt->{$_} =~ /^socket:\[(\d+)\]$/;
                            $i && $socks->{$i} && $socks->{$i}{listen} && ($socks->{$i}{local_port} // 0) == $port }
                     keys %$pt;
    my $lt = defined $listener ? $pt->{$listener} : 'none';
    my $is_worker = sub {
        my ($pid) = @_;
        return 0 unless comm($pid) eq 'apache2';
        my $t = fd_targets($pid);
        return scalar grep { $_ eq $lt } values %$t;
    };
    my @workers;
    wait_until(10, sub {
        @workers = grep { $is_worker->($_) } $h->children;
        # every worker idle in accept(), at least one forked after the connections
        @workers && !grep({ (slurp("/proc/$_/wchan") // '') ne 'inet_csk_accept' } @workers)
                 && grep { !$before{$_} } @workers }, 0.05);
    $r{new_workers} = grep { !$before{$_} } @workers;
    $r{workers} = \@workers;

    # snapshot (the parent's table again: it may have changed meanwhile)
    $socks = sockets($ppid);
    $pt = fd_targets($ppid);
    my $peers = unix_peers();
    my %is_w = map { $_ => 1 } @workers;
    # helper, resolver, notifier: children that do not hold the listener
    # (asked again: a worker the MPM forked since the list above holds it,
    # and its MPM pipes must not pass for a module process's)
    my @modprocs = grep { !$is_w{$_} && !$is_worker->($_) } $h->children;
    $r{modprocs} = [ map { comm($_) . "[$_]" } @modprocs ];
    my %mod_object;   # socket inode / pipe text => process holding it
    for my $m (@modprocs) {
        my $t = fd_targets($m);
        $mod_object{$_} = comm($m) . "[$m]" for values %$t;
    }
    for (sort { $a <=> $b } keys %$pt) {
        my $t = $pt->{$_};
        my $class = classify($t, $socks);
        $r{parent}{$class}++;
        # the parent's own channels to the module processes: proves that
        # the peer lookup below sees them
        my ($ino) = $t =~ /^socket:\[(\d+)\]$/;
        my $peer = $class eq 'unix' && $ino ? $peers->{$ino} : undef;
        push @{ $r{parent_to_module} }, "fd $_ -> $t: " . (($peer ? $mod_object{"socket:[$peer]"} : undef) // $mod_object{$t})
            if ($peer && $mod_object{"socket:[$peer]"}) || ($class eq 'pipe' && $mod_object{$t});
    }
    for my $w (@workers) {
        my $inh = inherited($ppid, $pt, $w);
        for my $fd (sort { $a <=> $b } keys %$inh) {
            my $t = $inh->{$fd};
            my $class = classify($t, $socks);
            $r{child}{$w}{$class}++;
            my $desc = "child $w fd $fd -> $t ($class)";
            if ($class eq 'unix') {
                my ($ino) = $t =~ /(\d+)/;
                my $peer = $peers->{$ino};
                my $holder = $peer ? $mod_object{"socket:[$peer]"} : undef;
                $desc .= $holder ? ", peer held by $holder" : $peer ? ", peer socket:[$peer]" : '';
                push @{ $r{to_module} }, $desc if $holder;
            }
            if ($class eq 'pipe' && $mod_object{$t}) {
                $desc .= ", other end held by $mod_object{$t}";
                push @{ $r{to_module} }, $desc;
            }
            push @{ $r{desc}{$w}{$class} }, $desc;
        }
    }
    # clean up: stop, then kill what is left of it
    my @procs = $h->children;
    $r{stopped} = $h->stop;
    kill 'KILL', grep { alive($_) } @procs;
    close $_ for @accepted;
    close $hang;
    return \%r;
}

sub max_per_class {
    my ($r) = @_;
    my %m;
    for my $c (values %{ $r->{child} || {} }) {
        for (keys %$c) { $m{$_} = $c->{$_} if ($c->{$_} // 0) > ($m{$_} // 0) }
    }
    return \%m;
}
sub own { my ($c) = @_; ($c->{tcp} // 0) + ($c->{unix} // 0) + ($c->{'socket-other'} // 0)
                        + ($c->{pipe} // 0) + ($c->{anon_inode} // 0) }
sub fmt { my ($c) = @_; join(' ', map { "$_=$c->{$_}" } sort keys %$c) || 'none' }

for my $privsep (0, 1) {
    my $m = $privsep ? 'privsep helper' : 'fetching in the parent';
    my $base = inspect(on => 0, privsep => $privsep);
    my $r = inspect(on => 1, privsep => $privsep);
    diag("$_->{name}: $_->{error}") for grep { $_->{error} } $base, $r;

    my ($po, $pb) = (own($r->{parent} || {}), own($base->{parent} || {}));
    ok(!$r->{error} && !$base->{error} && $po > $pb,
       "$m: the parent holds descriptors of the module: $po sockets/pipes/anon_inodes, "
       . "$pb in the baseline")
        or diag("parent with the module: " . fmt($r->{parent} || {}) . "; baseline: " . fmt($base->{parent} || {}));
    ok(($r->{accepted} // 0) >= 1 && ($privsep || grep { $_ eq 'parent' } @{ $r->{fetch_holders} || [] }),
       "$m: a fetch was in flight (silent responder accepted " . ($r->{accepted} // 0)
       . ", socket held by " . join(',', @{ $r->{fetch_holders} || ['nobody'] }) . ")");
    ok(($r->{new_workers} // 0) >= 1 && ($base->{new_workers} // 0) >= 1,
       "$m: children forked meanwhile: " . scalar(@{ $r->{workers} || [] }) . " worker(s) inspected"
       . " (" . scalar(@{ $base->{workers} || [] }) . " in the baseline); module processes: "
       . join(' ', @{ $r->{modprocs} || [] }));

    my $bmax = max_per_class($base);
    my @extra;
    for my $w (sort keys %{ $r->{child} || {} }) {
        for my $class (sort keys %{ $r->{child}{$w} }) {
            next if $r->{child}{$w}{$class} <= ($bmax->{$class} // 0);
            push @extra, sprintf("child %d: %d inherited %s (baseline %d): %s", $w,
                                 $r->{child}{$w}{$class}, $class, $bmax->{$class} // 0,
                                 join('; ', @{ $r->{desc}{$w}{$class} }));
        }
    }
    my $nextra = @extra;
    @extra = (@extra[0 .. ($#extra < 3 ? $#extra : 3)], '... ' . ($nextra - 4) . ' more') if $nextra > 4;
    ok(!$nextra && %{ $r->{child} || {} },
       "$m: no child inherited more descriptors of any class than the baseline's ("
       . fmt($bmax) . ")")
        or diag(join "\n", @extra);
    my @tcp = map { @{ $_->{tcp} || [] } } values %{ $r->{desc} || {} };
    ok(%{ $r->{child} || {} } && !@tcp, "$m: no child inherited a non-listening TCP socket (fetch)")
        or diag(join "\n", @tcp);
    my @pm = @{ $r->{parent_to_module} || [] };
    ok(%{ $r->{child} || {} } && @pm && !@{ $r->{to_module} || [] },
       "$m: no child inherited a socket or pipe connected to a module process (the parent has "
       . scalar(@pm) . ": " . join(', ', @pm) . ")")
        or diag(join "\n", @{ $r->{to_module} || [] });
    my @anon = map { @{ $_->{anon_inode} || [] } } values %{ $r->{desc} || {} };
    ok(%{ $r->{child} || {} } && !@anon, "$m: no child inherited an anon_inode (epoll)")
        or diag(join "\n", @anon);
}
diag("kcmp(2) refused $kcmp_refused times: descriptors compared by readlink text") if $kcmp_refused;
