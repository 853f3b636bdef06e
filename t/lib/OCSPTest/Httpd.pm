package OCSPTest::Httpd;
# Private httpd instances for tests that need their own server lifecycle
# (startup timing, graceful restarts, config errors).
#
#   my $h = OCSPTest::Httpd->new(name => 'startup',
#       global => "OCSPPrefetchStartupWait 2\n",
#       vhosts => [ { name => 'good', leaf => 'good', conf => "OCSPPrefetch on\n" } ]);
#   $h->start;  $h->port('good');  $h->graceful;  $h->stop;
#   my ($rc, $out) = $h->configtest;
#
# mpm => 'prefork' loads the prefork MPM (default: event) with small prefork
# settings; the test's `global` text can override them (later lines win).
# Vhosts may share a port (name-based, by SNI): one Listen per port. A vhost's
# certfile replaces its leaf's chain file in SSLCertificateFile.
use strict;
use warnings;
use POSIX qw(:sys_wait_h);
use File::Path qw(make_path remove_tree);
use IO::Socket::INET;
use Time::HiRes qw(time sleep);
use OCSPTest qw(work_dir pki_dir module_so module_built free_port wait_until
                slurp log_since leaf alive);
use OCSPTest::Client qw(get_staple);

our $HTTPD   = $ENV{OCSPT_HTTPD} || '/usr/sbin/apache2';
our $MODDIR  = $ENV{OCSPT_MODDIR} || '/usr/lib/apache2/modules';

sub new {
    my ($class, %a) = @_;
    my $name = $a{name} || 'httpd';
    my $root = work_dir() . "/servers/$name";
    my $self = bless {
        name   => $name,
        root   => $root,
        global => $a{global} // '',
        vhosts => $a{vhosts} || [],
        module => $a{module} // module_built(),
        loglevel => $a{loglevel} || 'info ssl:warn',
        raw    => $a{raw},                 # full config text override
        preload => $a{preload},            # config text before our LoadModule
        mpm    => $a{mpm} || 'event',      # event | prefork
        env    => $a{env} || {},           # environment of apache2 (e.g. LD_PRELOAD)
    }, $class;
    die "OCSPTest::Httpd: unknown mpm '$self->{mpm}'\n"
        unless $self->{mpm} =~ /^(?:event|prefork)$/;
    for my $v (@{ $self->{vhosts} }) {
        $v->{port} ||= free_port();
        $v->{leaf} ||= $v->{name};
        $v->{servername} ||= "$v->{leaf}.test";
    }
    File::Path::remove_tree("$root/ocsp-store");
    $self->write_config;
    return $self;
}

sub root      { $_[0]{root} }
sub conf_file { "$_[0]{root}/conf/httpd.conf" }
sub error_log { "$_[0]{root}/logs/error_log" }
sub pid_file  { "$_[0]{root}/logs/httpd.pid" }
sub port {
    my ($self, $name) = @_;
    for (@{ $self->{vhosts} }) { return $_->{port} if $_->{name} eq $name }
    die "no vhost $name";
}
sub vhost {
    my ($self, $name) = @_;
    for (@{ $self->{vhosts} }) { return $_ if $_->{name} eq $name }
    die "no vhost $name";
}
# one handshake to vhost NAME (its port and ServerName as SNI)
sub staple {
    my ($self, $name, %a) = @_;
    my $v = $self->vhost($name);
    return get_staple(port => $v->{port}, sni => $v->{servername}, %a);
}
# the result of the first successful handshake start() made (get_staple hash)
sub first_handshake { $_[0]{first} }

sub base_config {
    my $self = shift;
    my $r = $self->{root};
    my $c = <<"EOC";
ServerRoot "$r"
DefaultRuntimeDir "$r/logs"
PidFile "$r/logs/httpd.pid"
ErrorLog "$r/logs/error_log"
ServerName localhost
LoadModule mpm_$self->{mpm}_module $MODDIR/mod_mpm_$self->{mpm}.so
LoadModule authz_core_module $MODDIR/mod_authz_core.so
LoadModule socache_shmcb_module $MODDIR/mod_socache_shmcb.so
LoadModule ssl_module $MODDIR/mod_ssl.so
EOC
    $c .= $self->{preload} if defined $self->{preload};   # e.g. modules to load before ours
    $c .= "LoadModule ocsp_prefetch_module " . module_so() . "\n" if $self->{module};
    $c .= "<IfModule ocsp_prefetch_module>\n    " . OCSPTest::privsep_directive() . "\n</IfModule>\n"
        if $self->{module} && ($self->{global} // '') !~ /OCSPPrefetchPrivsep/;
    $c .= "<IfModule ocsp_prefetch_module>\n    " . OCSPTest::helper_user_directive() . "\n</IfModule>\n"
        if $self->{module} && ($self->{global} // '') !~ /OCSPPrefetchHelperUser/;
    # Each server object starts with an empty store of its own (see new()),
    # never the system default: earlier runs must not seed this one.
    $c .= "<IfModule ocsp_prefetch_module>\n    OCSPPrefetchStore \"$r/ocsp-store\"\n</IfModule>\n"
        if $self->{module} && ($self->{global} // '') !~ /OCSPPrefetchStore/;
    my $ll = $self->{loglevel};
    $ll .= " ocsp_prefetch:debug" if $self->{module} && $ll !~ /ocsp_prefetch/;
    $c .= "LogLevel $ll\n";
    if ($> == 0) {
        $c .= "User nobody\nGroup " . (getgrgid((getpwnam('nobody'))[3]) || 'nogroup') . "\n";
    }
    $c .= $self->{mpm} eq 'prefork' ? <<"EOP" : <<"EOE";
StartServers 1
MinSpareServers 1
MaxSpareServers 4
ServerLimit 32
MaxRequestWorkers 32
EOP
StartServers 1
ServerLimit 4
ThreadsPerChild 8
MinSpareThreads 4
MaxSpareThreads 32
MaxRequestWorkers 32
EOE
    $c .= <<"EOC";
GracefulShutdownTimeout 5
Timeout 20
DocumentRoot "$r/htdocs"
<Directory />
    Require all granted
</Directory>
EOC
    return $c;
}

sub vhost_config {
    my ($self, $v, $listen) = @_;
    my $l = leaf($v->{leaf});
    my $extra = $v->{conf} // '';
    $listen //= 1;
    return ($listen ? "Listen 127.0.0.1:$v->{port}\n" : '') . <<"EOC";
<VirtualHost 127.0.0.1:$v->{port}>
    ServerName $v->{servername}
    SSLEngine on
    SSLCertificateFile "${\ ($v->{certfile} // $l->{chain}) }"
    SSLCertificateKeyFile "$l->{key}"
$extra
</VirtualHost>
EOC
}

sub write_config {
    my $self = shift;
    my $r = $self->{root};
    make_path("$r/conf", "$r/logs", "$r/htdocs");
    my %seen;
    chmod 0755, $r, "$r/conf", "$r/logs", "$r/htdocs";
    my $c = defined $self->{raw} ? $self->{raw}
          : join "\n", $self->base_config, $self->{global},
                       map { $self->vhost_config($_, !$seen{$_->{port}}++) } @{ $self->{vhosts} };
    open my $fh, '>', $self->conf_file or die "$!";
    print $fh $c; close $fh;
}

sub set_raw { my ($s, $raw) = @_; $s->{raw} = $raw; $s->write_config }

sub _run {
    my ($self, @args) = @_;
    my $env = join '', map { "$_='$self->{env}{$_}' " } sort keys %{ $self->{env} };
    my $out = `$env$HTTPD -d '$self->{root}' -f '${\ $self->conf_file}' @args 2>&1`;
    return ($? >> 8, $out);
}

# ($exit_code, $output) of `apache2 -t`
sub configtest { my $s = shift; $s->_run('-t') }

sub pid {
    my $self = shift;
    my $p = slurp($self->pid_file);
    return undef unless $p && $p =~ /(\d+)/;
    return alive($1) ? $1 : undef;
}

# Start; returns elapsed seconds until the first TLS handshake succeeds on the
# first vhost (or until the pid file appears when there are no vhosts).
sub start {
    my ($self, %a) = @_;
    my $timeout = $a{timeout} || 30;
    # A fresh error log per start: tests count lines in it, and a previous
    # run's lines must not count.
    if (!$self->pid) {
        unlink $self->pid_file;
        rename $self->error_log, $self->error_log . ".prev" if -e $self->error_log;
    }
    $self->{log_off} = -s $self->error_log || 0;
    my $t0 = time;
    my ($rc, $out) = $self->_run('-k', 'start');
    die "httpd $self->{name} failed to start (rc=$rc): $out\n" . $self->log_tail if $rc;
    my $v = $self->{vhosts}[0];
    delete $self->{first};
    my $ok = wait_until($timeout, sub {
        return 0 unless $self->pid;
        return 1 unless $v;
        my $g = get_staple(port => $v->{port}, sni => $v->{servername}, timeout => 2);
        $self->{first} = $g if $g->{ok};
        $g->{ok};
    }, 0.05);
    die "httpd $self->{name} not up within $timeout s\n" . $self->log_tail unless $ok;
    $self->{started_at} = $t0;
    $self->{owner} = $$;
    return time - $t0;
}

sub generation_count {
    my $self = shift;
    my $c = slurp($self->error_log) // '';
    my $n = () = $c =~ /resuming normal operations/g;
    $n;
}

# graceful restart; waits until the new generation logs "resuming normal
# operations" and a handshake succeeds.  Returns elapsed seconds.
sub graceful {
    my ($self, %a) = @_;
    my $timeout = $a{timeout} || 30;
    my $before = $self->generation_count;
    my $t0 = time;
    my ($rc, $out) = $self->_run('-k', 'graceful');
    die "graceful failed: $out" if $rc;
    my $ok = wait_until($timeout, sub { $self->generation_count > $before }, 0.05);
    die "graceful restart of $self->{name} did not complete\n" . $self->log_tail unless $ok;
    if (my $v = $self->{vhosts}[0]) {
        wait_until($timeout, sub {
            get_staple(port => $v->{port}, sni => $v->{servername}, timeout => 2)->{ok} });
    }
    return time - $t0;
}

sub stop {
    my ($self) = @_;
    my $pid = $self->pid or return 1;
    $self->_run('-k', 'stop');
    my $gone = wait_until(20, sub { !alive($pid) }, 0.05);
    unless ($gone) { kill 'KILL', $pid; wait_until(5, sub { !alive($pid) }) }
    return $gone;
}

# Waits (at most $timeout s) until the MPM has stopped starting children:
# the set of the parent's children unchanged for 2 s.  Tests that time a
# stop call it first after heavy forking (MaxConnectionsPerChild 1): a
# prefork child that gets SIGTERM while it is still starting (inside malloc,
# e.g. in initgroups) deadlocks in httpd's own signal handler (exit() ->
# OPENSSL_cleanup -> free) until the SIGKILL 10 s later, with or without
# this module.  True when quiet.
sub wait_quiet {
    my ($self, $timeout) = @_;
    return wait_until($timeout // 15, sub {
        my $before = join ',', $self->children;
        sleep 2;
        $before eq join(',', $self->children);
    }, 0.01);
}

sub threads {
    my ($self) = @_;
    my $pid = $self->pid or return undef;
    opendir my $d, "/proc/$pid/task" or return undef;
    my @t = grep { /^\d+$/ } readdir $d;
    scalar @t;
}

# pids of the parent's children (ppid = parent), oldest first
sub children {
    my ($self) = @_;
    my $pid = $self->pid or return ();
    my @c;
    opendir my $d, '/proc' or return ();
    for my $p (grep { /^\d+$/ } readdir $d) {
        my $st = slurp("/proc/$p/stat") // next;
        # pid (comm) state ppid ... field 22: starttime
        my ($state, $ppid, @rest) = $st =~ /^\d+ \(.*\) (\S) (\d+) (.*)$/s or next;
        next unless $ppid == $pid && $state ne 'Z';
        my @f = split ' ', $rest[0];
        push @c, [ $p, $f[17] ];
    }
    return map { $_->[0] } sort { $a->[1] <=> $b->[1] } @c;
}

# a field of the parent's /proc/PID/status, e.g. proc_status('VmRSS') (kB)
sub proc_status {
    my ($self, $field) = @_;
    my $pid = $self->pid or return undef;
    my $st = slurp("/proc/$pid/status") // return undef;
    return $st =~ /^\Q$field\E:\s*(\d+)/m ? $1 : undef;
}

sub log_content { my $s = shift; log_since($s->error_log, shift || 0) }
# lines of the error log (this start's) matching $re
sub log_lines {
    my ($s, $re) = @_;
    my @l = split /\n/, $s->log_content;
    $re ? grep { $_ =~ $re } @l : @l;
}
sub log_tail {
    my $s = shift;
    my @l = split /\n/, ($s->log_content // '');
    @l = @l[-30 .. -1] if @l > 30;
    join("\n", "--- $s->{name} error_log tail:", @l) . "\n";
}

sub DESTROY {
    my $self = shift;
    local $?;   # runs at exit: must not change the test's exit status
    return if $self->{keep} || !$self->{started_at} || $self->{owner} != $$;
    $self->stop;
}

1;
