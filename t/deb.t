#!/usr/bin/perl

# The Debian package (make deb, debian/, docs/packaging.md): lintian finds
# no error or warning, it depends on the ABI of the machine's nginx, it
# installs with dpkg on that nginx (/usr/sbin/nginx), the CLIs and the
# model work from their installed paths, nginx loads the module only
# through the snippet that dh_nginx wrote and enabled and routes requests
# with it, dpkg -r disables it and dpkg --purge leaves the machine as it
# was.
#
# Skipped unless root, on another nginx (TEST_NGINX_BINARY), under
# faketime (dpkg and make do not like a clock that jumps), with
# TEST_DEB=0, without the packaging tools, when the package is on the
# machine already and while the nginx service runs (the package's
# trigger would reload it).  The package is purged at the end even if a
# test dies.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use POSIX ();
use Time::HiRes qw(time sleep);

use TierRouter::Test;

my $NGINX = '/usr/sbin/nginx';
my $PKG = 'libnginx-mod-http-tier-router';
my $SO = '/usr/lib/nginx/modules/ngx_http_tier_router_module.so';
my $AVAILABLE = '/usr/share/nginx/modules-available/mod-http-tier-router.conf';
my $ENABLED = '/etc/nginx/modules-enabled/50-mod-http-tier-router.conf';
my $MODEL = '/usr/share/tier-router/default.json';
my $DOC = "/usr/share/doc/$PKG";

plan skip_all => 'TEST_DEB=0' if ($ENV{TEST_DEB} // '') eq '0';
plan skip_all => 'installs a package: run as root' if $> != 0;
plan skip_all => "TEST_NGINX_BINARY is $ENV{TEST_NGINX_BINARY}: the "
    . "package is built for Debian's nginx ($NGINX)"
    if ($ENV{TEST_NGINX_BINARY} // $NGINX) ne $NGINX;
plan skip_all => 'under faketime'
    if $ENV{FAKETIME} || ($ENV{LD_PRELOAD} // '') =~ /faketime/;
plan skip_all => "no $NGINX (apt-get install nginx)" unless -x $NGINX;

for my $tool (qw(dpkg-buildpackage dh_nginx lintian apt-get git)) {
    plan skip_all => "no $tool (scripts/deps.sh --deb)"
        unless grep { -x "$_/$tool" } split /:/, $ENV{PATH};
}

plan skip_all => "$PKG is already on this machine ("
    . status() . "): the test would replace it"
    if status() ne 'not-installed';

# a running nginx service would be reloaded by the package's trigger

plan skip_all => 'the nginx service runs (/run/nginx.pid): installing '
    . 'the package would reload it' if service_runs();

my $REPO = TierRouter::Test::repo();
my $start = time;
my $installed;

# nginx with the packaged nginx's prefix, where the snippet's relative
# modules/ path leads to /usr/lib/nginx/modules; no load_module of the
# harness's own

my $t = TierRouter::Test->new(no_module => 1, binary => $NGINX,
                              prefix => '/usr/share/nginx/');
my $dir = $t->testdir;


# the machine before

my %before = machine();


# build (or reuse a build newer than every tracked file)

my $debdir = $ENV{BUILD} || 'build';
$debdir = "$REPO/$debdir" unless $debdir =~ m{^/};
$debdir .= '/deb';

my ($rc, $out) = run_cmd('make', '-s', '-C', $REPO, 'deb');
is($rc, 0, 'make deb') or diag(tail($out, 40));

my $arch = `dpkg --print-architecture`;
chomp $arch;
my ($deb) = glob("$debdir/${PKG}_*_$arch.deb");
my ($changes) = glob("$debdir/nginx-tier-router_*_$arch.changes");

die "make deb made no $PKG .deb in $debdir\n" unless $deb && $changes;


# lintian: no error and no warning, on the .debs and the .changes

($rc, $out) = run_cmd('lintian', '--fail-on', 'error,warning', $changes);
my @bad = grep { /^[EW]: / } split /\n/, $out;
ok($rc == 0 && !@bad, 'lintian: no error, no warning')
    or diag($out);
note("lintian: $_") for grep { /^\w: / } split /\n/, $out;


# the control fields: the nginx ABI it was built for, the one the
# machine's nginx provides

my $depends = `dpkg-deb -f '$deb' Depends`;
my ($abi) = `dpkg-query -W -f '\${Provides}' nginx` =~ /(nginx-abi-[\w.+~-]+)/;

ok($abi, "the machine's nginx provides an ABI (" . ($abi // '') . ')');
$abi //= 'nginx-abi-?';
like($depends, qr/(?:^|, )\Q$abi\E(?:,|$)/m, "Depends names $abi");
like($depends, qr/(?:^|, )\Q$_\E[\w.]* \(/, "Depends names $_")
    for qw(libjansson libcurl libhiredis);

# apt would install it here, and not on an nginx of another ABI

($rc, $out) = run_cmd('apt-get', '-s', '-q', 'install', $deb);
is($rc, 0, 'apt-get -s: installable on this nginx') or diag(tail($out));

my $other = other_abi($deb);
($rc, $out) = run_cmd('apt-get', '-s', '-q', 'install', $other);
isnt($rc, 0, 'apt-get -s: not with another nginx ABI');
like($out, qr/Depends: nginx-abi-0\.0\.0-0 but it is not installable/,
     '... for the ABI it depends on');


# install

$installed = 1;
($rc, $out) = dpkg('-i', $deb);
is($rc, 0, 'dpkg -i') or diag($out);
is(status(), 'installed', "$PKG installed");

ok(-f $SO, "the module: $SO");
is(read_file($AVAILABLE),
   "load_module modules/ngx_http_tier_router_module.so;\n",
   "the snippet: $AVAILABLE");
is(readlink($ENABLED), $AVAILABLE, "enabled on install: $ENABLED");
ok(-f $MODEL, "the model: $MODEL");
ok(-f "$DOC/$_" || -f "$DOC/$_.gz", "doc: $_") for qw(README.md
    docs/directives.md docs/packaging.md examples/nginx.conf copyright
    changelog);
ok(-f "/usr/share/man/man1/$_.1.gz", "manual page: $_")
    for qw(tier-router-classify tier-router-train tier-router-fit);


# the CLIs, from /usr/bin

($rc, $out) = run_cmd('/usr/bin/tier-router-classify', '--help');
ok($rc == 0 && $out =~ /^usage: tier-router-classify/, 'classify --help');

for my $cli (qw(train fit)) {
    ($rc, $out) = run_cmd("/usr/bin/tier-router-$cli", '--help');
    ok($rc == 2 && $out =~ /^usage: tier-router-$cli /,
       "$cli --help: its usage");
}

# the installed trainer makes the installed model again, byte for byte

($rc, $out) = run_cmd('sh', '-c', '/usr/bin/tier-router-train '
    . "$REPO/t/data/routing/gsm8k_dev.jsonl "
    . "$REPO/t/data/routing/mmlu_dev.jsonl > $dir/model.json");
is($rc, 0, 'train on the routing data');
is(read_file("$dir/model.json"), read_file($MODEL),
   'train: the same bytes as the installed model');

($rc, $out) = run_cmd('sh', '-c', '/usr/bin/tier-router-fit '
    . "$REPO/t/data/checks/math.jsonl 2>/dev/null");
like($out, qr/"family": "math"/, 'fit on the checks corpus: weights');

$t->write_file('requests.jsonl', qq({"id":"a","prompt":"Translate 'hello' )
    . qq(into French."}\n));
($rc, $out) = run_cmd('/usr/bin/tier-router-classify', '--model', $MODEL,
                      "$dir/requests.jsonl");
like($out, qr/^\{"id":"a","score":0\.\d+,"tier":"\w+"/,
     'classify with the installed model');


# nginx loads the module through the snippet, and only through it

my $http = <<'EOF';
http {
    %%HTTP_DEFAULTS%%
    %%THREE_TIERS%%
    %%MODEL%%

    server {
        listen 127.0.0.1:%%PORT_main%%;

        location /v1/ {
            tier_router          on;
            tier_router_headers  on;
            proxy_pass           http://$tier_router_upstream;
        }
    }
}
EOF

# the snippet first: load_module comes before any block (the harness
# writes its events {} only when the configuration has none)

my $include = "include $ENABLED;\n";
my $events = "events { worker_connections 64; }\n";

sub conf {
    my ($main, $model) = @_;
    (my $c = $main . $events . $http) =~ s/%%MODEL%%/$model/;
    return $c;
}

$t->write_config(conf($include, "tier_router_model $MODEL;"),
                 file => 'model.conf');
($rc, $out) = $t->test_config('model.conf');
is($rc, 0, 'nginx -t: the snippet and the installed model')
    or diag($out);
like($out, qr/test is successful/, '... successful');

$t->write_config(conf('', ''), file => 'none.conf');
($rc, $out) = $t->test_config('none.conf');
isnt($rc, 0, 'nginx -t without the snippet fails');
like($out, qr/unknown directive "tier_router_tier"/,
     '... the module comes from the snippet only');

$t->write_config(conf($include . "load_module $SO;\n", ''),
                 file => 'twice.conf');
($rc, $out) = $t->test_config('twice.conf');
isnt($rc, 0, 'nginx -t: the snippet and a load_module of its own fail');
like($out, qr/module "ngx_http_tier_router_module" is already loaded/,
     '... "already loaded" (docs/packaging.md)');

$t->mock($_) for qw(small mid frontier);
$t->write_config(conf($include, ''));
$t->run;

my $r = $t->post_json('/v1/chat/completions',
    { model => 'auto',
      messages => [{ role => 'user', content => $t->easy_prompt }] });
is($r->{status}, 200, 'routed: 200');
is($r->{headers}{'x-tier-router-tier'}, 'small', 'easy: tier small');
is($r->{headers}{'x-mock-name'}, 'small', '... its upstream');
is($r->{json}{model}, 'small-model', '... which saw its model');

my $hard = $t->hard_prompt;

$r = $t->post_json('/v1/chat/completions',
    { model => 'auto', messages => [{ role => 'user', content => $hard }] });
is($r->{headers}{'x-tier-router-tier'}, 'frontier', 'hard: tier frontier');
is($r->{json}{model}, 'frontier-model', '... which saw its model');

$t->stop_all;


# remove: disabled, its link set aside (for a later install to enable
# again); purge: the machine as it was

($rc, $out) = dpkg('-r', $PKG);
is($rc, 0, 'dpkg -r') or diag($out);
ok(!-e $ENABLED && !-l $ENABLED, 'removed: the snippet disabled');
is(readlink("$ENABLED.removed"), $AVAILABLE, '... its link set aside');

($rc, $out) = dpkg('--purge', $PKG);
is($rc, 0, 'dpkg --purge') or diag($out);
$installed = 0;

is(status(), 'not-installed', "$PKG gone");
ok(!-l $ENABLED && !-l "$ENABLED.removed", 'the snippet\'s links gone');
ok(!-e $SO && !-e $AVAILABLE && !-e $MODEL, 'its files gone');
is_deeply({ machine() }, \%before, 'the machine as before');

note(sprintf 'deb.t: %.0f s', time - $start);

done_testing;


# never leave the package behind: stop nginx, then purge

END {
    local ($?, $!, $@);

    if ($installed) {
        $t->stop_all if $t;
        my ($rc, $out) = dpkg('--purge', $PKG);
        diag("deb.t: purged $PKG after a failure: exit $rc");
    }
}


sub status {
    my $s = `dpkg-query -W -f '\${db:Status-Status}' $PKG 2>/dev/null`;
    return $s eq '' ? 'not-installed' : $s;
}


sub service_runs {
    open my $fh, '<', '/run/nginx.pid' or return 0;
    my $pid = <$fh> // '';
    close $fh;
    return $pid =~ /^(\d+)/ && kill(0, $1);
}


# what the package touches: the enabled snippets, the module and
# snippet directories, and this package in dpkg's database

sub machine {
    my %m;

    for my $d ('/etc/nginx/modules-enabled', '/usr/lib/nginx/modules',
               '/usr/share/nginx/modules-available', '/usr/share/tier-router')
    {
        if (opendir my $dh, $d) {
            $m{$d} = join ' ', map { -l "$d/$_" ? "$_->" . readlink("$d/$_")
                                                : $_ }
                               sort grep { !/^\.\.?$/ } readdir $dh;
        } else {
            $m{$d} = '(none)';
        }
    }

    $m{status} = status();

    return %m;
}


# dpkg, again for a while if another dpkg or apt holds the lock

sub dpkg {
    my @args = @_;
    my ($rc, $out);

    for (1 .. 60) {
        ($rc, $out) = run_cmd('dpkg', @args);
        last unless $rc && $out =~ /frontend lock|database is locked/;
        sleep 1;
    }

    return ($rc, $out);
}


# a copy of the .deb that depends on an nginx ABI no nginx provides

sub other_abi {
    my ($deb) = @_;

    my $x = "$dir/other";

    run_cmd('dpkg-deb', '-R', $deb, $x);
    my $c = read_file("$x/DEBIAN/control");
    $c =~ s/nginx-abi-[\w.+~-]+/nginx-abi-0.0.0-0/;
    open my $fh, '>', "$x/DEBIAN/control" or die "$x: $!\n";
    print $fh $c;
    close $fh;
    run_cmd('dpkg-deb', '-b', $x, "$dir/other.deb");

    return "$dir/other.deb";
}


sub run_cmd {
    my @cmd = @_;

    my $pid = open my $fh, '-|';
    die "fork: $!\n" unless defined $pid;

    if ($pid == 0) {
        open STDERR, '>&', \*STDOUT;
        open STDIN, '<', '/dev/null';
        exec @cmd or POSIX::_exit(127);
    }

    local $/;
    my $out = <$fh> // '';
    close $fh;

    return ($? >> 8, $out);
}


sub read_file {
    my ($path) = @_;
    open my $fh, '<', $path or return undef;
    binmode $fh;
    local $/;
    my $c = <$fh>;
    close $fh;
    return $c;
}


sub tail {
    my ($text, $n) = @_;
    my @l = split /\n/, $text;
    return join "\n", @l > ($n // 20) ? @l[-($n // 20) .. -1] : @l;
}
