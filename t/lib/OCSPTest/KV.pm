package OCSPTest::KV;
# A real redis-server or memcached (Debian's packages) for the fleet cache
# tests: started on a free 127.0.0.1 port of its own, nothing persisted,
# stopped (and killed if need be) when the test ends.  Raw get/set in the
# server's own protocol, so that a test can read what httpd published and
# write what an attacker would.
use strict;
use warnings;
use POSIX qw(setsid :sys_wait_h);
use IO::Socket::INET;
use IO::Select;
use Time::HiRes qw(time sleep);
use Digest::SHA qw(sha256);
use OCSPTest qw(work_dir wait_until free_port);

sub have {
    my ($kind) = @_;
    my $bin = $kind eq 'redis' ? 'redis-server' : 'memcached';
    for my $d (split /:/, "$ENV{PATH}:/usr/sbin:/usr/bin:/sbin") {
        return "$d/$bin" if -x "$d/$bin";
    }
    return undef;
}

# OCSPTest::KV->start('redis' | 'memcache' [, port => P])
sub start {
    my ($class, $kind, %a) = @_;
    my $bin = have($kind) or die "$kind server not installed\n";
    my $self = bless { kind => $kind, port => $a{port} || free_port(), owner => $$ }, $class;
    my $dir = work_dir() . "/kv-$kind-$self->{port}";
    mkdir $dir unless -d $dir;
    chmod 0777, $dir;
    my @cmd = $kind eq 'redis'
        ? ($bin, '--port', $self->{port}, '--bind', '127.0.0.1', '--save', '',
           '--appendonly', 'no', '--daemonize', 'no', '--dir', $dir,
           '--logfile', "$dir/log", '--protected-mode', 'yes')
        : ($bin, '-l', '127.0.0.1', '-p', $self->{port}, '-U', '0', '-m', '16',
           '-u', 'nobody', '-c', '256');
    my $pid = fork;
    die "fork: $!" unless defined $pid;
    if ($pid == 0) {
        setsid();
        open STDIN, '<', '/dev/null';
        open STDOUT, '>>', "$dir/out";
        open STDERR, '>&', \*STDOUT;
        exec @cmd;
        exit 127;
    }
    $self->{pid} = $pid;
    my $up = wait_until(10, sub {
        return -1 if waitpid($pid, WNOHANG) == $pid;
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $self->{port},
                                      Proto => 'tcp', Timeout => 1) or return 0;
        close $s; 1;
    }, 0.05);
    die "$kind did not come up on 127.0.0.1:$self->{port}\n" unless $up && $up > 0;
    return $self;
}

sub port { $_[0]{port} }
sub pid  { $_[0]{pid} }
sub kind { $_[0]{kind} }
# the OCSPPrefetchCache argument
sub spec { my $s = shift; "$s->{kind}:127.0.0.1:$s->{port}" }

sub pause  { my $s = shift; kill 'STOP', $s->{pid} if $s->{pid} }
sub resume { my $s = shift; kill 'CONT', $s->{pid} if $s->{pid} }

sub stop {
    my $self = shift;
    return unless ($self->{owner} // 0) == $$;
    my $pid = delete $self->{pid} or return;
    kill 'CONT', $pid;
    kill 'TERM', $pid;
    my $gone = wait_until(5, sub { waitpid($pid, WNOHANG) == $pid || !kill(0, $pid) });
    unless ($gone) { kill 'KILL', $pid; waitpid($pid, 0) }
}

# A restart on the same port, empty.
sub restart {
    my $self = shift;
    $self->stop;
    my $new = (ref $self)->start($self->{kind}, port => $self->{port});
    $self->{pid} = delete $new->{pid};
    $new->{owner} = 0;
    return $self;
}

sub DESTROY { local $?; my $s = shift; $s->stop if $s->{pid} && ($s->{owner} // 0) == $$ }

# --- the module's records ---------------------------------------------------

# the key a certificate's record is published under: the SHA-256 of the
# leaf's DER, raw (cert_key) and as the cache's key (fleet_key)
sub cert_key {
    my $leaf = shift;
    my $der = `openssl x509 -in '${\ OCSPTest::leaf($leaf)->{cert} }' -outform DER 2>/dev/null`;
    return sha256($der);
}
sub fleet_key { 'opf-fleet:' . unpack('H*', cert_key(shift)) }

# OPF2 record: magic status pad key_len this next (microseconds) key der
sub decode_record {
    my $r = shift // return undef;
    return undef if length($r) < 24;
    my ($magic, $status, $pad, $klen, $this, $next) = unpack('a4 C C n Q> Q>', $r);
    return undef unless $magic eq 'OPF2' && length($r) > 24 + $klen;
    return { status => $status, this => $this, next => $next,
             key => substr($r, 24, $klen), der => substr($r, 24 + $klen) };
}
sub encode_record {
    my (%a) = @_;
    return pack('a4 C C n Q> Q>', 'OPF2', $a{status} // 0, 0, length $a{key},
                $a{this}, $a{next}) . $a{key} . $a{der};
}

# --- raw protocol ----------------------------------------------------------

sub _conn {
    my $self = shift;
    IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $self->{port},
                          Proto => 'tcp', Timeout => 3);
}

# reads until $done->($buf) or 3 s
sub _talk {
    my ($self, $req, $done) = @_;
    my $s = $self->_conn or return undef;
    syswrite $s, $req;
    my $buf = '';
    my $sel = IO::Select->new($s);
    my $end = time + 3;
    while (!$done->($buf)) {
        my $left = $end - time;
        last if $left <= 0 || !$sel->can_read($left);
        my $n = sysread $s, $buf, 65536, length $buf;
        last unless $n;
    }
    close $s;
    return $buf;
}

sub _resp { my @a = @_; join('', "*" . @a . "\r\n", map { '$' . length($_) . "\r\n$_\r\n" } @a) }

# the value under $key (the cache's own key, e.g. "opf-fleet:<hex>"), or undef
sub get {
    my ($self, $key) = @_;
    if ($self->{kind} eq 'redis') {
        my $r = $self->_talk(_resp('GET', $key), sub {
            my $b = shift;
            return 1 if $b =~ /^\$-1\r\n/ || $b =~ /^-/;
            return $b =~ /^\$(\d+)\r\n/ && length($b) >= length("\$$1\r\n") + $1 + 2;
        }) // return undef;
        return undef unless $r =~ /^\$(\d+)\r\n/;
        return substr($r, length("\$$1\r\n"), $1);
    }
    my $r = $self->_talk("get $key\r\n", sub { $_[0] =~ /END\r\n\z/ || $_[0] =~ /ERROR/ }) // return undef;
    return undef unless $r =~ /^VALUE \S+ \d+ (\d+)\r\n/;
    return substr($r, length($&), $1);
}

sub set {
    my ($self, $key, $value, $ttl) = @_;
    $ttl ||= 3600;
    if ($self->{kind} eq 'redis') {
        my $r = $self->_talk(_resp('SETEX', $key, $ttl, $value), sub { $_[0] =~ /\r\n/ });
        return defined $r && $r =~ /^\+OK/;
    }
    my $r = $self->_talk("set $key 0 $ttl " . length($value) . "\r\n$value\r\n",
                         sub { $_[0] =~ /\r\n/ });
    return defined $r && $r =~ /^STORED/;
}

# every key (redis: KEYS; memcache: not listable, undef)
sub keys {
    my ($self, $pattern) = @_;
    return undef unless $self->{kind} eq 'redis';
    my $r = $self->_talk(_resp('KEYS', $pattern // '*'), sub {
        my $b = shift; return 0 unless $b =~ /^\*(\d+)\r\n/; my $n = $1;
        my @l = ($b =~ /\$\d+\r\n[^\r]*\r\n/g); @l >= $n }) // return undef;
    return [ $r =~ /\$\d+\r\n([^\r]*)\r\n/g ];
}

sub flush {
    my $self = shift;
    my $r = $self->{kind} eq 'redis'
        ? $self->_talk(_resp('FLUSHALL'), sub { $_[0] =~ /\r\n/ })
        : $self->_talk("flush_all\r\n", sub { $_[0] =~ /\r\n/ });
    return defined $r && $r =~ /^(\+OK|OK)/;
}

# requests served (redis: total_commands_processed; memcache: cmd_get + cmd_set)
sub stats {
    my $self = shift;
    if ($self->{kind} eq 'redis') {
        my $r = $self->_talk(_resp('INFO', 'stats'), sub {
            my $b = shift; $b =~ /^\$(\d+)\r\n/ && length($b) >= length("\$$1\r\n") + $1 + 2 }) // return {};
        return { map { /^(\w+):(\S+)/ ? ($1 => $2) : () } split /\r\n/, $r };
    }
    my $r = $self->_talk("stats\r\n", sub { $_[0] =~ /END\r\n\z/ }) // return {};
    return { map { /^STAT (\S+) (\S+)/ ? ($1 => $2) : () } split /\r\n/, $r };
}

1;
