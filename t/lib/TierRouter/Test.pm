package TierRouter::Test;

# A small test harness for the tier router module, in the nginx-tests style.
# Core Perl only.  See the POD at the end of this file.

use strict;
use warnings;

use Test::More ();
use IO::Socket::INET;
use IO::Select;
use File::Temp qw(tempdir);
use File::Spec;
use File::Basename qw(dirname);
use Cwd qw(abs_path);
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(time sleep);

our $VERSION = '0.1';

my $REPO = abs_path(dirname(__FILE__) . '/../../..');
my @INSTANCES;
my %USED_PORTS;

sub repo { $REPO }


sub new {
    my ($class, %opt) = @_;

    my $self = bless {
        binary => $ENV{TEST_NGINX_BINARY} || '/usr/sbin/nginx',
        module => $ENV{TEST_NGINX_MODULE}
            || "$REPO/build/ngx_http_tier_router_module.so",
        log_level => $opt{log_level} || 'info',
        ports => {},
        mocks => {},
        creator => $$,
        %opt,
    }, $class;

    unless ($opt{no_module}) {
        unless (-f $self->{module}) {
            Test::More::plan(skip_all => "module not built: $self->{module}"
                . " (run `make module` or set TEST_NGINX_MODULE)");
        }
        unless (-x $self->{binary}) {
            Test::More::plan(skip_all => "no nginx binary: $self->{binary}"
                . " (set TEST_NGINX_BINARY)");
        }
    }

    $self->{dir} = tempdir('tier-router-test-XXXXXX', TMPDIR => 1,
        CLEANUP => !$ENV{TEST_NGINX_LEAVE});
    chmod 0755, $self->{dir};

    Test::More::diag("test dir: $self->{dir}") if $ENV{TEST_NGINX_LEAVE};

    push @INSTANCES, $self;

    return $self;
}


sub testdir { $_[0]{dir} }
sub module_path { $_[0]{module} }
sub binary { $_[0]{binary} }


# ports

sub port {
    my ($self, $name) = @_;

    $name //= 'main';

    return $self->{ports}{$name} if $self->{ports}{$name};

    for (1 .. 100) {
        my $s = IO::Socket::INET->new(
            LocalAddr => '127.0.0.1', LocalPort => 0, Proto => 'tcp',
            Listen => 1, ReuseAddr => 1,
        ) or next;

        my $p = $s->sockport;
        close $s;
        next if $USED_PORTS{$p}++;

        return $self->{ports}{$name} = $p;
    }

    die "cannot find a free port\n";
}


# mocks

sub mock {
    my ($self, $name, %opt) = @_;

    my $port = $self->port("mock_$name");
    my $script = "$REPO/t/mock/" . ($opt{script} // 'mock_llm.pl');
    my $pidfile = "$self->{dir}/mock_$name.pid";

    my @cmd = ($^X, $script, '--port', $port, '--name', $name,
        '--pidfile', $pidfile, '--watch-pid', $$);
    push @cmd, '--verbose' if $opt{verbose} || $ENV{TEST_MOCK_VERBOSE};
    push @cmd, @{$opt{args}} if $opt{args};

    my $pid = fork;
    die "fork: $!\n" unless defined $pid;

    if ($pid == 0) {
        open STDIN, '<', '/dev/null';
        exec @cmd or POSIX::_exit(127);
    }

    $self->{mocks}{$name} = $pid;

    my $deadline = time + 10;

    while (time < $deadline) {
        my $r = eval {
            $self->http_get('/health', port => $port, timeout => 1)
        };
        return $port if $r && $r->{status} && $r->{status} == 200;

        if (waitpid($pid, WNOHANG) == $pid) {
            delete $self->{mocks}{$name};
            die "mock $name exited early (status $?)\n";
        }

        sleep 0.05;
    }

    die "mock $name did not answer /health on port $port\n";
}


# $t->webhook($name, @args): a webhook receiver (t/mock/webhook.pl) on the
# port "mock_$name", logging to $name.log in the test directory; args as
# the script takes them (--fail N, --hang-ms N)

sub webhook {
    my ($self, $name, @args) = @_;

    return $self->mock($name, script => 'webhook.pl',
        args => ['--log', "$self->{dir}/$name.log", @args]);
}


# $t->webhook_posts($name): what the receiver $name took, in order: one
# hash per POST, as the script logs it

sub webhook_posts {
    my ($self, $name) = @_;

    require JSON::PP;

    my $text = $self->read_file("$name.log") // '';

    return [map { JSON::PP->new->utf8->decode($_) } grep { /\S/ }
            split /\n/, $text];
}


# $t->wait_for(sub { ... }, $seconds): calls the sub until it returns
# true (and returns that), or until $seconds (default 10) have passed
# (and returns false)

sub wait_for {
    my ($self, $cond, $secs) = @_;

    my $deadline = time + ($secs // 10);

    while (1) {
        my $v = $cond->();
        return $v if $v;
        return undef if time > $deadline;
        sleep 0.05;
    }
}


# $t->redis: a redis-server of the test's own on the port "redis", its
# data in redis/ of the test directory (append-only, each write synced,
# so a kill -9 loses nothing it answered); again after redis_stop, on the
# same port and data.  Skips the test without redis-server.

sub redis {
    my ($self) = @_;

    my ($bin) = grep { -x } map { "$_/redis-server" }
                split /:/, "$ENV{PATH}:/usr/bin:/usr/sbin";

    Test::More::plan(skip_all => 'no redis-server (apt-get install '
                     . 'redis-server)') unless $bin;

    my $port = $self->port('redis');
    my $dir = "$self->{dir}/redis";

    mkdir $dir;

    my $pid = fork;
    die "fork: $!\n" unless defined $pid;

    if ($pid == 0) {

        # Redis keeps the real time: under faketime (scripts/test-dates.sh)
        # it would wait on a clock that does not move as it expects

        delete @ENV{qw(LD_PRELOAD FAKETIME FAKETIME_NO_CACHE)};

        open STDIN, '<', '/dev/null';
        open STDOUT, '>>', "$self->{dir}/redis.log";
        open STDERR, '>&', \*STDOUT;
        exec $bin, '--port', $port, '--bind', '127.0.0.1', '--dir', $dir,
             '--appendonly', 'yes', '--appendfsync', 'always', '--save', '',
             '--daemonize', 'no', '--enable-debug-command', 'local'
            or POSIX::_exit(127);
    }

    $self->{redis_pid} = $pid;

    my $deadline = time + 10;

    until (($self->redis_cli('PING') // '') =~ /PONG/) {
        die "redis-server did not start on port $port\n" if time > $deadline;
        sleep 0.05;
    }

    return $port;
}


# $t->redis_stop($signal): stops it (TERM by default; KILL: at once)

sub redis_stop {
    my ($self, $sig) = @_;

    my $pid = delete $self->{redis_pid} or return;

    kill $sig // 'TERM', $pid;
    _wait_pid($pid, 5) or kill 'KILL', $pid;
    waitpid($pid, 0);
}


# $t->redis_cli(@args): redis-cli's raw output, one command

sub redis_cli {
    my ($self, @args) = @_;

    # quiet while it is down: a refused connection is an empty answer

    open my $err, '>&', \*STDERR or return undef;
    open STDERR, '>', '/dev/null';

    local @ENV{qw(LD_PRELOAD FAKETIME)};
    delete @ENV{qw(LD_PRELOAD FAKETIME)};

    my $ok = open my $fh, '-|', 'redis-cli', '-p', $self->port('redis'),
        '--raw', @args;

    open STDERR, '>&', $err;

    return undef unless $ok;

    local $/;
    my $out = <$fh>;
    close $fh;

    return $out;
}


sub stop_mocks {
    my ($self) = @_;

    for my $name (keys %{$self->{mocks}}) {
        my $pid = delete $self->{mocks}{$name};
        kill 'TERM', $pid;
        _wait_pid($pid, 5) or kill 'KILL', $pid;
        waitpid($pid, 0);
    }
}


# configuration

sub _substitute {
    my ($self, $text) = @_;

    $text =~ s/%%TESTDIR%%/$self->{dir}/g;
    $text =~ s/%%MODULE%%/$self->{module}/g;
    $text =~ s/%%PORT_(\w+?)%%/$self->port($1)/ge;

    return $text;
}


sub http_defaults {
    my ($self) = @_;

    my $d = $self->{dir};

    return join "\n    ",
        "client_body_temp_path $d/client_body_temp;",
        "proxy_temp_path $d/proxy_temp;",
        "fastcgi_temp_path $d/fastcgi_temp;",
        "uwsgi_temp_path $d/uwsgi_temp;",
        "scgi_temp_path $d/scgi_temp;",
        "access_log $d/access.log;",
        "default_type application/octet-stream;";
}


# %%THREE_TIERS%% in a configuration: the mock servers small, mid and
# frontier (started with $t->mock) as upstreams small_up, mid_up and
# frontier_up, tiers of those names with models small-model, mid-model
# and frontier-model, priced 1/2, 10/20 and 100/200 dollars per million
# input/output tokens.

sub three_tiers {
    my ($self) = @_;

    my @lines;

    for my $n (qw(small mid frontier)) {
        push @lines, "upstream ${n}_up { server 127.0.0.1:%%PORT_mock_$n%%; }";
    }

    push @lines,
        'tier_router_tier small    model=small-model    upstream=small_up;',
        'tier_router_tier mid      model=mid-model      upstream=mid_up;',
        'tier_router_tier frontier model=frontier-model upstream=frontier_up;',
        'tier_router_price small-model    input=1   output=2;',
        'tier_router_price mid-model      input=10  output=20;',
        'tier_router_price frontier-model input=100 output=200;';

    return join "\n    ", @lines;
}


sub config_text {
    my ($self, $conf, %opt) = @_;

    my $d = $self->{dir};
    my $pre = '';

    $pre .= "load_module $self->{module};\n"
        unless $opt{no_module} || $self->{no_module}
            || $conf =~ /^\s*load_module\b/m;

    $pre .= "user root;\n" if $> == 0 && $conf !~ /^\s*user\s/m;

    $pre .= "daemon on;\nmaster_process on;\n";

    # nginx passes on to a new binary (USR2) only what "env" names: under
    # scripts/sanitize.sh its sanitizers' options, or the new master aborts

    $pre .= "env $_;\n"
        for grep { exists $ENV{$_} && $conf !~ /^\s*env\s+$_\b/m }
            qw(ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS);

    $pre .= "worker_processes 1;\n" unless $conf =~ /^\s*worker_processes\b/m;
    $pre .= "pid $d/nginx.pid;\n";
    $pre .= "error_log $d/error.log $self->{log_level};\n"
        unless $conf =~ /^\s*error_log\b/m;
    $pre .= "events { worker_connections 1024; }\n"
        unless $conf =~ /^\s*events\s*\{/m;
    $pre .= "\n";

    my $defaults = $self->http_defaults;
    my $tiers = $self->three_tiers;

    $conf =~ s/%%THREE_TIERS%%/$tiers/g;

    # %%UPSTREAMS a b%%: upstream a_up and b_up, on the mocks a and b

    $conf =~ s{%%UPSTREAMS ([\w ]+)%%}{
        join "\n    ", map { "upstream ${_}_up "
                             . "{ server 127.0.0.1:%%PORT_mock_$_%%; }" }
                        split ' ', $1
    }ge;

    unless ($conf =~ s/%%HTTP_DEFAULTS%%/$defaults/g) {
        $conf =~ s/(^\s*http\s*\{)/$1\n    $defaults\n/m;
    }

    return $self->_substitute($pre . $conf);
}


sub write_config {
    my ($self, $conf, %opt) = @_;

    my $file = $opt{file} || 'nginx.conf';
    my $path = "$self->{dir}/$file";

    $self->write_file($file, $self->config_text($conf, %opt));
    $self->{conf} = $path unless $opt{file};

    return $path;
}


sub write_file {
    my ($self, $name, $content) = @_;

    my $path = "$self->{dir}/$name";

    open my $fh, '>', $path or die "cannot write $path: $!\n";
    binmode $fh;
    print $fh $content;
    close $fh;
    chmod 0644, $path;

    return $path;
}


sub read_file {
    my ($self, $name) = @_;

    my $path = $name =~ m{^/} ? $name : "$self->{dir}/$name";
    open my $fh, '<', $path or return '';
    binmode $fh;
    local $/;
    my $c = <$fh>;
    close $fh;

    return $c // '';
}


sub conf_line {
    my ($self, $re, $file) = @_;

    my $text = $self->read_file($file || $self->{conf});
    my $n = 0;

    for my $l (split /\n/, $text) {
        $n++;
        return $n if $l =~ $re;
    }

    return undef;
}


# nginx control

sub _nginx_cmd {
    my ($self, @args) = @_;

    my $conf = $self->{conf} or die "write_config first\n";

    # new(prefix => DIR): nginx's prefix, for relative paths in the
    # configuration (an installed load snippet's modules/...)

    return ($self->{binary}, '-p', $self->{prefix} // "$self->{dir}/",
        '-c', $conf, '-e', "$self->{dir}/error.log", @args);
}


sub _capture {
    my ($self, @cmd) = @_;

    my $out = "$self->{dir}/.cmd.out";
    my $pid = fork;
    die "fork: $!\n" unless defined $pid;

    if ($pid == 0) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>', $out;
        open STDERR, '>&', \*STDOUT;
        exec @cmd or POSIX::_exit(127);
    }

    waitpid($pid, 0);
    my $rc = $? >> 8;

    return ($rc, $self->read_file($out));
}


sub test_config {
    my ($self, $file) = @_;

    # another file of the test directory, written by write_config(file =>)
    local $self->{conf} = $file ? "$self->{dir}/$file" : $self->{conf};

    return $self->_capture($self->_nginx_cmd('-t'));
}


sub run {
    my ($self, %opt) = @_;

    my ($rc, $out) = $self->_capture($self->_nginx_cmd);

    if ($rc != 0) {
        my $msg = "nginx failed to start (exit $rc): $out";
        die $msg unless $opt{no_die};
        Test::More::diag($msg);
        return 0;
    }

    my $deadline = time + 10;
    my $pidfile = "$self->{dir}/nginx.pid";

    until (-s $pidfile) {
        die "nginx did not write $pidfile\n" if time > $deadline;
        sleep 0.02;
    }

    $self->{nginx_pid} = $self->_pid_from_file;

    # wait for the listeners

    for my $p ($self->_listen_ports) {
        until (IO::Socket::INET->new(PeerAddr => '127.0.0.1',
            PeerPort => $p, Proto => 'tcp'))
        {
            die "nginx does not listen on $p\n" if time > $deadline;
            sleep 0.02;
        }
    }

    return 1;
}


sub _listen_ports {
    my ($self) = @_;

    my $text = $self->read_file($self->{conf});
    my %p;
    $p{$1} = 1 while $text =~ /^\s*listen\s+127\.0\.0\.1:(\d+)/mg;

    return keys %p;
}


sub _pid_from_file {
    my ($self) = @_;

    my $pid = $self->read_file("$self->{dir}/nginx.pid");
    $pid =~ s/\D//g;

    return $pid || undef;
}


sub _workers {
    my ($self) = @_;

    my $master = $self->{nginx_pid} or return ();
    my @w;

    opendir my $d, '/proc' or return ();

    for my $p (grep { /^\d+$/ } readdir $d) {
        open my $fh, '<', "/proc/$p/stat" or next;
        my $stat = <$fh> // '';
        close $fh;
        my ($ppid) = $stat =~ /^\d+ \(.*\) \S+ (\d+)/ or next;
        push @w, $p if $ppid == $master;
    }

    closedir $d;

    return @w;
}


sub reload {
    my ($self) = @_;

    my $master = $self->{nginx_pid} or die "nginx is not running\n";
    my %old = map { $_ => 1 } $self->_workers;

    kill 'HUP', $master;

    # wait for the old workers to leave and new ones to come

    my $deadline = time + 10;

    while (time < $deadline) {
        my @w = $self->_workers;
        my @new = grep { !$old{$_} } @w;
        my @still = grep { $old{$_} && kill(0, $_) } keys %old;
        last if @new && !@still;
        sleep 0.05;
    }

    return 1;
}


sub stop {
    my ($self) = @_;

    my $pid = delete $self->{nginx_pid};
    $pid //= $self->_pid_from_file if $self->{conf};

    if ($pid && kill(0, $pid)) {
        kill 'TERM', $pid;
        _wait_pid($pid, 10) or kill 'KILL', $pid;
    }

    unlink "$self->{dir}/nginx.pid";

    return 1;
}


sub _wait_pid {
    my ($pid, $timeout) = @_;

    my $deadline = time + $timeout;

    while (time < $deadline) {
        waitpid($pid, WNOHANG);
        return 1 unless kill 0, $pid;
        sleep 0.02;
    }

    return 0;
}


sub stop_all {
    my ($self) = @_;

    return unless $self->{creator} == $$;
    return if $self->{stopped}++;

    $self->stop;
    $self->stop_mocks;
    $self->redis_stop;
}


sub DESTROY {
    my ($self) = @_;
    local ($?, $!, $@);
    $self->stop_all;
}


END {
    local ($?, $!, $@);
    $_->stop_all for grep { defined } @INSTANCES;
}

# stop everything on INT/TERM too; a closed STDOUT (prove | head) must not
# kill the test before END has stopped nginx and the mocks

$SIG{INT} = $SIG{TERM} = sub { exit 1 };
$SIG{PIPE} = 'IGNORE';


# logs

sub error_log { $_[0]->read_file('error.log') }
sub access_log { $_[0]->read_file($_[1] || 'access.log') }


# $t->log_entry($file, $tag, $id): the fields (k=v, k="v w") of the line
# of $file that starts "$tag id=$id ", waiting up to 5 s for nginx to write
# it; {} if none came.

sub log_entry {
    my ($self, $file, $tag, $id) = @_;

    my $deadline = Time::HiRes::time() + 5;

    while (Time::HiRes::time() < $deadline) {
        for my $l (split /\n/, $self->read_file($file) // '') {
            next unless $l =~ /^\Q$tag\E id=\Q$id\E /;

            my %f = $l =~ /(\w+)=("[^"]*"|\S*)/g;
            s/^"|"$//g for values %f;
            return \%f;
        }

        Time::HiRes::sleep(0.05);
    }

    return {};
}


# $t->llm_call(%opt): one LLM API request, for tests of tiers and
# attempts; returns http_post()'s answer with json (the decoded body), log
# (log_entry($opt{log}[0], $opt{log}[1], id)) and tried (mocks_asked() of
# $opt{counts}, emptied first), as far as those options are given.
#   prefix => '/v1/', dialect => chat|responses|anthropic, text, max
#   (100), stream, json (response_format json_object), key (the
#   Authorization), tier (X-Tier, 'small'), limit (X-Limit), cap (X-Cap),
#   headers => [k => v, ...]

sub llm_call {
    my ($self, %o) = @_;

    require JSON::PP;

    my $id = 'r' . ++$self->{llm_calls};
    my $dialect = $o{dialect} // 'chat';
    my $path = $o{prefix} // '/v1/';
    my $text = $o{text} // 'Say hello to the team.';
    my $max = $o{max} // 100;
    my %body = (model => 'frontier-model');

    if ($dialect eq 'responses') {
        $body{input} = $text;
        $body{max_output_tokens} = $max;
        $path .= 'responses';

    } else {
        $body{messages} = [{ role => 'user', content => $text }];
        $body{max_tokens} = $max;
        $path .= $dialect eq 'anthropic' ? 'messages' : 'chat/completions';
    }

    $body{stream} = JSON::PP::true() if $o{stream};
    $body{response_format} = { type => 'json_object' } if $o{json};

    my @h = ('Authorization' => $o{key} // 'Bearer sk-test-default',
             'X-Id' => $id, 'Content-Type' => 'application/json',
             'X-Tier' => $o{tier} // 'small');

    push @h, 'X-Limit' => $o{limit} if defined $o{limit};
    push @h, 'X-Cap' => $o{cap} if defined $o{cap};
    push @h, @{$o{headers}} if $o{headers};

    unlink "$self->{dir}/$o{counts}" if $o{counts};

    my $r = $self->http_post($path, JSON::PP->new->utf8->canonical
                                    ->encode(\%body), @h);
    $r->{json} = json_decode($r->{body});
    $r->{log} = $self->log_entry(@{$o{log}}, $id) if $o{log};
    $r->{tried} = $self->mocks_asked($o{counts}) if $o{counts};

    return $r;
}


# $t->mocks_asked($file): the --name of each mock, in order, that a
# --count-file $file (in the test directory) recorded, space separated

sub mocks_asked {
    my ($self, $file) = @_;

    return join ' ', map { (split / /)[0] }
        split /\n/, $self->read_file($file) // '';
}


# error.log position helpers: $t->log_mark; ...; $t->log_since

sub log_mark {
    my ($self, $file) = @_;
    $file ||= 'error.log';
    return $self->{marks}{$file} = length $self->read_file($file);
}


sub log_since {
    my ($self, $file) = @_;
    $file ||= 'error.log';
    my $text = $self->read_file($file);
    return substr($text, $self->{marks}{$file} // 0);
}


# HTTP client

# a routine prompt and a hard one, as the classifier scores them: the
# cheapest tier and the top one

sub easy_prompt { "Translate 'hello' into French." }

sub hard_prompt {
    return ('Design a multi-region, event-sourced order management system '
        . 'with a saga orchestrator, prove exactly-once processing with '
        . 'Kafka transactions under a network partition, then refactor this '
        . 'Go and Python code for concurrency safety and explain the '
        . 'invariants, step by step, comparing three consistency models. ')
        x 4;
}


# $t->post_json($path, $data, @headers): $data as a JSON body; the
# answer with {json}, its body decoded (undef if it is not JSON)

sub post_json {
    my ($self, $path, $data, @h) = @_;

    require JSON::PP;

    my $r = $self->http_post($path,
        JSON::PP->new->utf8->canonical->encode($data),
        'Content-Type' => 'application/json', @h);
    $r->{json} = json_decode($r->{body});

    return $r;
}


sub http_get {
    my ($self, $path, %opt) = @_;
    return $self->http('GET', $path, %opt);
}


sub http_post {
    my ($self, $path, $body, %headers) = @_;

    # options (lower-case, start with a dash) may be mixed in the headers:
    # -port, -timeout, -chunks, -chunk_delay, -expect, -content_length

    my %opt;
    for my $k (keys %headers) {
        $opt{substr($k, 1)} = delete $headers{$k} if $k =~ /^-/;
    }

    return $self->http('POST', $path, %opt, body => $body,
        headers => [%headers]);
}


# $t->http($method, $path, %opt): one request on a new connection.
#   port => N (default port('main')), headers => [k => v, ...],
#   body => BYTES, chunks => [BYTES, ...] (Transfer-Encoding: chunked),
#   chunk_delay => seconds between chunks, expect => 1 (Expect:
#   100-continue: wait for the interim response, up to 1 s, before the
#   body), content_length => N (override the header), send_limit => N (send
#   only the first N bytes of the body), timeout => seconds (default 10),
#   http10 => 1, host => NAME.
# Returns a hashref: status, reason, headers (lower-case keys; repeated
# headers joined with ", "), header_list ([k, v] pairs), body (de-chunked),
# raw, continue (1 if an interim 100 came), elapsed (seconds), timeout
# (1 if the read timed out), error.

sub http {
    my ($self, $method, $path, %opt) = @_;

    my $port = $opt{port} // $self->port('main');
    my $timeout = $opt{timeout} // 10;
    my @h = @{$opt{headers} || []};
    my $ver = $opt{http10} ? '1.0' : '1.1';

    my $head = "$method $path HTTP/$ver\r\n";
    my %have;

    for (my $i = 0; $i < @h; $i += 2) {
        $have{lc $h[$i]} = 1;
        $head .= "$h[$i]: $h[$i + 1]\r\n";
    }

    $head .= "Host: " . ($opt{host} || 'localhost') . "\r\n"
        unless $have{host};
    $head .= "Connection: close\r\n" unless $have{connection};

    my $body = $opt{body};
    my $chunks = $opt{chunks};

    if ($chunks) {
        $head .= "Transfer-Encoding: chunked\r\n"
            unless $have{'transfer-encoding'};
    } elsif (defined $opt{content_length}) {
        $head .= "Content-Length: $opt{content_length}\r\n";
    } elsif (defined $body && !$have{'content-length'}) {
        $head .= "Content-Length: " . length($body) . "\r\n";
    }

    $head .= "Expect: 100-continue\r\n" if $opt{expect} && !$have{expect};
    $head .= "\r\n";

    my $start = time;
    my $s = IO::Socket::INET->new(
        PeerAddr => '127.0.0.1', PeerPort => $port, Proto => 'tcp',
        Timeout => $timeout,
    ) or return { status => 0, error => "connect: $!", body => '',
                  headers => {}, raw => '' };
    binmode $s;

    my $r = { continue => 0 };
    my $buf = '';

    eval {
        local $SIG{PIPE} = 'IGNORE';

        _send($s, $head);

        if ($opt{expect}) {
            my $sel = IO::Select->new($s);

            while ($sel->can_read($opt{expect_wait} // 1)) {
                my $n = sysread($s, $buf, 65536, length $buf);
                last unless $n;

                if ($buf =~ s{^HTTP/1\.[01] 100[^\n]*\r?\n\r?\n}{}) {
                    $r->{continue} = 1;
                    last;
                }

                last if $buf =~ /\r?\n\r?\n/;     # a final response
            }
        }

        # a final response instead of 100 Continue: do not send the body

        if ($opt{expect} && !$r->{continue} && $buf =~ /\r?\n\r?\n/) {
            $chunks = undef;
            $body = undef;
        }

        if ($chunks) {
            my $first = 1;

            for my $c (@$chunks) {
                sleep($opt{chunk_delay}) if $opt{chunk_delay} && !$first;
                $first = 0;
                next unless length $c;
                _send($s, sprintf("%x\r\n", length $c) . $c . "\r\n");
            }

            sleep($opt{chunk_delay}) if $opt{chunk_delay};
            _send($s, "0\r\n\r\n");

        } elsif (defined $body && length $body) {
            my $b = defined $opt{send_limit}
                ? substr($body, 0, $opt{send_limit}) : $body;
            _send($s, $b);
        }
    };

    # the server may answer (and close) before the whole body is sent

    $r->{send_error} = $@ if $@;

    my $read = _read_all($s, $timeout, $buf, $opt{read_to_close} ? undef
        : ($method eq 'HEAD' ? \&_head_complete : \&_response_complete));
    $r->{timeout} = $read->{timeout};
    $r->{elapsed} = time - $start;
    $r->{first_byte} = defined $read->{first}
        ? $read->{first} - $start : undef;
    close $s;

    return { %$r, %{parse_response($read->{data})} };
}


sub _send {
    my ($s, $data) = @_;

    my $off = 0;

    while ($off < length $data) {
        my $n = syswrite($s, $data, length($data) - $off, $off);
        die "send: $!\n" unless defined $n;
        $off += $n;
    }
}


sub _read_all {
    my ($s, $timeout, $data, $done) = @_;

    $data //= '';
    my $sel = IO::Select->new($s);
    my $deadline = time + $timeout;
    my $to = 0;
    my $first = length $data ? time : undef;

    while (1) {
        last if $done && length $data && $done->($data);
        my $left = $deadline - time;
        if ($left <= 0) { $to = 1; last; }
        unless ($sel->can_read($left)) { $to = 1; last; }
        my $n = sysread($s, $data, 65536, length $data);
        last unless $n;
        $first //= time;
    }

    return { data => $data, timeout => $to, first => $first };
}


# is there a whole final response in $data (so that we need not wait for
# the server to close)?

sub _response_complete {
    my ($data) = @_;

    my $r = parse_response($data);

    return 0 if $r->{error} || !$r->{status};
    return 1 if $r->{status} == 204 || $r->{status} == 304;
    return $r->{complete} if defined $r->{headers}{'content-length'}
        || ($r->{headers}{'transfer-encoding'} // '') =~ /chunked/i;
    return 0;                           # read until close
}


sub _head_complete {
    my ($data) = @_;
    my $r = parse_response($data);
    return !$r->{error} && $r->{status};
}


# raw($bytes, %opt): send bytes as they are on a new connection, read
# until the server closes (or timeout => seconds, default 10).  Returns the
# raw response bytes; in list context also whether the read timed out.
# port => N, pieces => [bytes, ...] with delay => seconds between them.

sub raw {
    my ($self, $bytes, %opt) = @_;

    my $port = $opt{port} // $self->port('main');
    my $timeout = $opt{timeout} // 10;

    my $s = IO::Socket::INET->new(
        PeerAddr => '127.0.0.1', PeerPort => $port, Proto => 'tcp',
        Timeout => $timeout,
    ) or die "connect: $!\n";
    binmode $s;

    eval {
        local $SIG{PIPE} = 'IGNORE';
        my @p = $opt{pieces} ? @{$opt{pieces}} : ($bytes);
        my $first = 1;

        for my $p (@p) {
            sleep($opt{delay}) if $opt{delay} && !$first;
            $first = 0;
            _send($s, $p);
        }

        shutdown($s, 1) if $opt{half_close};
    };

    my $read = _read_all($s, $timeout);
    close $s;

    return wantarray ? ($read->{data}, $read->{timeout}) : $read->{data};
}


# parse_response($raw): the first final response in $raw (interim 1xx
# responses are skipped and counted).  Also usable as a function.

sub parse_response {
    my ($raw) = @_;
    $raw = $_[1] if ref $raw;          # called as a method

    my $r = { raw => $raw, status => 0, headers => {}, header_list => [],
              body => '', interim => 0 };

    my $rest = $raw;

    while (1) {
        my $end = index($rest, "\r\n\r\n");
        my $sep = 4;

        if ($end < 0) {
            $end = index($rest, "\n\n");
            $sep = 2;
        }

        if ($end < 0) {
            $r->{error} = 'incomplete header';
            return $r;
        }

        my $head = substr($rest, 0, $end);
        $rest = substr($rest, $end + $sep);

        my @lines = split /\r?\n/, $head;
        my $sl = shift @lines;

        my ($ver, $status, $reason) =
            $sl =~ m{^HTTP/([\d.]+)\s+(\d{3})\s*(.*)$}
            or do { $r->{error} = "bad status line"; return $r; };

        if ($status >= 100 && $status < 200) {
            $r->{interim}++;
            next;
        }

        $r->{version} = $ver;
        $r->{status} = $status + 0;
        $r->{reason} = $reason;

        for my $l (@lines) {
            my ($k, $v) = $l =~ /^([^:]+):\s*(.*?)\s*$/ or next;
            push @{$r->{header_list}}, [$k, $v];
            $k = lc $k;
            $r->{headers}{$k} = exists $r->{headers}{$k}
                ? "$r->{headers}{$k}, $v" : $v;
        }

        last;
    }

    my $h = $r->{headers};

    if (($h->{'transfer-encoding'} // '') =~ /chunked/i) {
        my $body = '';

        while ($rest =~ s/^([0-9a-fA-F]+)[^\r\n]*\r\n//) {
            my $n = hex $1;
            if ($n == 0) {
                $r->{complete} = 1;
                last;
            }
            if (length $rest < $n + 2) {
                $body .= $rest;
                $rest = '';
                last;
            }
            $body .= substr($rest, 0, $n);
            $rest = substr($rest, $n + 2);
        }

        $r->{body} = $body;

    } elsif (defined $h->{'content-length'}) {
        my $n = $h->{'content-length'};
        $r->{body} = substr($rest, 0, $n);
        $r->{complete} = length($r->{body}) == $n ? 1 : 0;
        $r->{trailing} = substr($rest, $n) if length($rest) > $n;

    } else {
        $r->{body} = $rest;
        $r->{complete} = undef;         # unknown: delimited by close
    }

    return $r;
}


# HTTP/2 through curl: $t->http2($method, $path, %opt) with port, body,
# headers => [k => v, ...].  Returns the same shape as http().

sub http2 {
    my ($self, $method, $path, %opt) = @_;

    my $port = $opt{port} // $self->port('main');
    my @cmd = ('curl', '-s', '-S', '--http2-prior-knowledge', '-i',
        '-X', $method, '--max-time', $opt{timeout} // 10);

    my @h = @{$opt{headers} || []};
    for (my $i = 0; $i < @h; $i += 2) {
        push @cmd, '-H', "$h[$i]: $h[$i + 1]";
    }

    if (defined $opt{body}) {
        my $f = $self->write_file('.h2body', $opt{body});
        push @cmd, '--data-binary', "\@$f";
        my %have = map { lc($h[$_ * 2]) => 1 } 0 .. $#h / 2;
        push @cmd, '-H', 'Content-Type: application/json'
            unless $have{'content-type'};
    }

    push @cmd, "http://127.0.0.1:$port$path";

    my ($rc, $out) = $self->_capture(@cmd);
    my $r = parse_response($out);
    $r->{curl_exit} = $rc;

    return $r;
}


# small helpers for tests

# parse_sse($body): list of { event => NAME or undef, data => TEXT,
# json => decoded data or undef } for each server-sent event.

sub parse_sse {
    my ($body) = @_;
    $body = $_[1] if ref $body;

    my @ev;

    for my $block (split /\r?\n\r?\n/, $body) {
        next unless $block =~ /\S/;
        my ($event, @data);

        for my $l (split /\r?\n/, $block) {
            if ($l =~ /^event:\s?(.*)$/) { $event = $1; }
            elsif ($l =~ /^data:\s?(.*)$/) { push @data, $1; }
        }

        my $data = join "\n", @data;
        push @ev, { event => $event, data => $data,
                    json => json_decode($data) };
    }

    return @ev;
}


# the dialects' error shapes, on a response from $t->http with {json} set

sub openai_error_ok {
    my ($r, $name, $type) = @_;
    $type //= 'invalid_request_error';
    my $e = $r->{json} && ref $r->{json}{error} eq 'HASH'
        ? $r->{json}{error} : undef;
    Test::More::ok($e && defined $e->{message} && length $e->{message}
        && ($e->{type} // '') eq $type
        && exists $e->{param} && exists $e->{code},
        "$name: OpenAI error shape, type $type") or Test::More::diag($r->{body});
}

sub anthropic_error_ok {
    my ($r, $name, $type) = @_;
    $type //= 'invalid_request_error';
    my $d = $r->{json};
    Test::More::ok($d && ($d->{type} // '') eq 'error'
        && ref $d->{error} eq 'HASH'
        && ($d->{error}{type} // '') eq $type
        && length($d->{error}{message} // ''),
        "$name: Anthropic error shape, type $type")
        or Test::More::diag($r->{body});
}


sub json_decode {
    my ($text) = @_;
    $text = $_[1] if ref $text;
    require JSON::PP;
    my $v = eval { JSON::PP->new->utf8->allow_nonref->decode($text) };
    return $v;
}


1;

__END__

=head1 NAME

TierRouter::Test - test harness for ngx_http_tier_router_module

=head1 SYNOPSIS

    use lib 't/lib';
    use Test::More;
    use TierRouter::Test;

    my $t = TierRouter::Test->new;     # skip_all if the module is missing
    $t->mock($_) for qw(small frontier);

    $t->write_config(<<'EOF');
    http {
        %%HTTP_DEFAULTS%%
        upstream small_up { server 127.0.0.1:%%PORT_mock_small%%; }
        upstream frontier_up { server 127.0.0.1:%%PORT_mock_frontier%%; }
        tier_router_tier small model=small-model upstream=small_up;
        tier_router_tier frontier model=frontier-model upstream=frontier_up;
        server {
            listen 127.0.0.1:%%PORT_main%%;
            location /v1/ {
                tier_router on;
                proxy_pass http://$tier_router_upstream;
            }
        }
    }
    EOF
    $t->run;

    my $r = $t->http_post('/v1/chat/completions', $json,
        'Content-Type' => 'application/json');
    is($r->{status}, 200);
    is($r->{headers}{'x-mock-name'}, 'small');

    done_testing;

=head1 CONFIGURATION

C<write_config($conf)> writes F<nginx.conf> into the test directory.  The
test gives everything after the main-context prelude (normally just the
C<http {}> block).  The harness prepends:

    load_module <module>;      # unless no_module or the text has one
    user root;                 # only when running as root (euid 0)
    daemon on; master_process on; worker_processes 1;
    env ASAN_OPTIONS; ...      # those of the sanitizers that are set
    pid <dir>/nginx.pid;
    error_log <dir>/error.log <log_level>;   # new(log_level => 'debug')
    events { worker_connections 1024; }     # unless the text has events {}

Inside C<http {}>, C<%%HTTP_DEFAULTS%%> expands to the temp paths
(client_body_temp_path, proxy_temp_path, ...) under the test directory and
C<access_log <dir>/access.log>.  Without the placeholder these lines are
inserted right after the first C<http {>.

Placeholders: C<%%PORT_name%%> (a free port, stable per name: C<main>,
C<mock_small>, ...), C<%%TESTDIR%%>, C<%%MODULE%%>.

C<%%UPSTREAMS a b ...%%> in a configuration becomes one
C<upstream NAME_up { server 127.0.0.1:PORT; }> per name, on the port of
the mock started as C<mock(NAME)>.

=head1 METHODS

=over

=item new(%opt)

Options: C<no_module> (do not require/load the module), C<log_level>
(default C<info>), C<prefix> (nginx's C<-p>, by default the test
directory; F</usr/share/nginx/>, the packaged nginx's own, resolves an
installed load snippet's C<modules/...>).  Creates a world-readable temp
directory.

=item port($name), testdir, conf_line(qr/.../)

C<conf_line> gives the line number in the written nginx.conf of the first
line matching the regexp (for file:line checks).

=item mock($name)

Starts F<t/mock/mock_llm.pl> with C<--name $name> on C<port("mock_$name")>
and waits until it answers C</health>.

=item write_config($conf), write_file($name, $bytes), read_file($name)

=item run, stop, reload, test_config

C<test_config> returns C<(exit code, output)> of C<nginx -t>, on the
configuration that C<run> uses, or on C<test_config($file)>, one that
C<write_config($conf, file =E<gt> $file)> wrote.

=item http($method, $path, %opt), http_get($path, %opt),
http_post($path, $body, %headers_and_options)

See the comment above C<http> for options.  In C<http_post>, keys starting
with a dash are options (C<-port>, C<-timeout>, C<-chunks>,
C<-chunk_delay>, C<-expect>, C<-content_length>, C<-send_limit>).
Responses are hashrefs: C<status>, C<headers> (lower-case keys), C<body>,
C<raw>, C<continue>, C<elapsed>, C<timeout>.

=item easy_prompt, hard_prompt

A routine prompt (the cheapest tier) and a hard one (the top tier).

=item post_json($path, $data, @headers)

C<http_post> of C<$data> encoded as JSON (C<Content-Type> set); the
response also has C<json>, its body decoded.

=item raw($bytes, %opt)

Sends raw bytes, returns everything read until the server closes.

=item http2($method, $path, %opt)

HTTP/2 cleartext (prior knowledge) through curl.

=item error_log, access_log($file), log_mark, log_since

=back

=head1 ENVIRONMENT

C<TEST_NGINX_BINARY> (default F</usr/sbin/nginx>), C<TEST_NGINX_MODULE>
(default F<build/ngx_http_tier_router_module.so> in the repository),
C<TEST_NGINX_LEAVE=1> keeps the temp directory, C<TEST_MOCK_VERBOSE=1>
makes the mocks log requests.

Everything started (nginx, mocks) is stopped when the object is destroyed
or at END, also when a test dies.

=cut
