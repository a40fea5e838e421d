#!/usr/bin/perl

# Spend that outlives workers and masters: reload under traffic with no
# spend lost, restart with the state file (at exit and periodic), a
# missing or corrupt state file, configuration checks, price catalogs from
# a file and from a URL with its last good copy.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use JSON::PP;
use Time::HiRes qw(sleep time);
use POSIX ();

use TierRouter::Test;

my $t = TierRouter::Test->new;
my $J = JSON::PP->new->utf8->canonical;
my $dir = $t->testdir;

mkdir "$dir/files";
$t->mock('small', args => ['--files', "$dir/files"]);
$t->mock('frontier');

my $catalog = $J->encode({
    sample_spec => { input_cost_per_token => 0, output_cost_per_token => 0 },
    'small-model' => { input_cost_per_token => 1e-06,
                       output_cost_per_token => 2e-06 },
    'frontier-model' => { input_cost_per_token => 0.0001,
                          output_cost_per_token => 0.0002,
                          cache_read_input_token_cost => 5e-05 },
});

$t->write_file('files/catalog.json', $catalog);
$t->write_file('catalog.json', $catalog);

sub conf {
    my (%o) = @_;

    my $period = $o{period} // 'month';
    my $prices = $o{prices} // "tier_router_price_catalog %%TESTDIR%%/catalog.json;";
    my $state = $o{state} // '%%TESTDIR%%/state.json';
    my $user = $o{user} ? "user $o{user};" : '';

    return <<"EOF";
$user
worker_processes 2;

http {
    %%HTTP_DEFAULTS%%

    %%UPSTREAMS small frontier%%

    tier_router_tier small    model=small-model    upstream=small_up;
    tier_router_tier frontier model=frontier-model upstream=frontier_up;

    $prices

    tier_router_budget_zone zone=tenants:1m period=$period
                            state=$state state_interval=1s;

    # one clock for every nginx of this test, across restarts: a period
    # that rolls between two of them must not depend on today's date
    tier_router_budget_clock 1794744000;

    log_format spend 'S id=\$http_x_id cost=\$tier_router_cost '
                     'spend=\$tier_router_tenant_spend status=\$status';
    access_log %%TESTDIR%%/spend.log spend;

    proxy_buffering off;

    server {
        listen 127.0.0.1:%%PORT_main%%;

        location /v1/ {
            tier_router on;
            tier_router_budget zone=tenants key=\$http_authorization
                               limit=\$http_x_limit;
            proxy_pass http://\$tier_router_upstream;
        }

        location = /status {
            tier_router_status tenants;
        }
    }
}
EOF
}

my $seq = 0;

sub call {
    my ($key, %o) = @_;

    my $body = $J->encode({ model => $o{model} // 'frontier-model',
        max_tokens => 100,
        messages => [{ role => 'user', content => 'Translate: bonjour' }] });

    return $t->http_post('/v1/chat/completions', $body,
        'Authorization' => $key, 'X-Id' => 'r' . ++$seq . ($o{tag} // ''),
        'X-Mock-Output-Tokens' => 100,
        defined $o{limit} ? ('X-Limit' => $o{limit}) : ());
}

sub zone {
    my $r = $t->http_get('/status?limit=1000');
    return TierRouter::Test::json_decode($r->{body}) // {};
}

sub logged_micros {
    my $sum = 0;
    for my $l (split /\n/, $t->read_file('spend.log')) {
        next unless $l =~ / cost=(\d+)\.(\d{6}) /;
        $sum += $1 * 1_000_000 + $2;
    }
    return $sum;
}

sub wait_logged {
    my ($n) = @_;
    my $deadline = time + 10;
    while (time < $deadline) {
        my @l = grep { / cost=\d/ } split /\n/, $t->read_file('spend.log');
        return scalar @l if @l >= $n;
        sleep 0.05;
    }
    return -1;
}


# -- a fresh start without a state file --------------------------------------

$t->write_config(conf());
$t->run;

like($t->error_log, qr/zone "tenants" starts empty: no state file/,
     'no state file: a notice, and nginx starts');

call("Bearer sk-a") for 1 .. 3;
call("Bearer sk-b") for 1 .. 2;
wait_logged(5);

my $z = zone();
is($z->{tenants_total}, 2, 'two tenants');
is($z->{spent_micro_usd}, logged_micros(), 'the zone holds what the log '
   . 'says was charged');


# -- reload under traffic: nothing lost --------------------------------------

{
    my $pid = fork // die "fork: $!";

    if ($pid == 0) {
        call("Bearer sk-traffic-" . ($_ % 3), tag => 't') for 1 .. 80;
        POSIX::_exit(0);
    }

    for (1 .. 3) {
        sleep 0.3;
        $t->reload;
    }

    waitpid $pid, 0;

    my $n = wait_logged(85);
    is($n, 85, 'reload under traffic: every request logged');

    my $st = zone();
    my $logged = logged_micros();
    is($st->{spent_micro_usd}, $logged, "reload under traffic: no spend "
       . "lost ($logged micro-dollars)");
    is($st->{reserved_micro_usd}, 0, 'reload: no reservation left behind');
    is($st->{tenants_total}, 5, 'reload: the tenants are kept');
}


# -- restart: the state file at exit -----------------------------------------

{
    my $before = zone();

    $t->stop;

    ok(-s "$dir/state.json", 'stop: the state file is written');
    is(sprintf('%o', (stat "$dir/state.json")[2] & 07777), '600',
       'stop: the state file is 0600');
    my $state = TierRouter::Test::json_decode($t->read_file('state.json'));
    ok($state && $state->{version} == 1 && @{$state->{tenants}} == 5,
       'stop: the state file holds every tenant');
    ok(!glob("$dir/state.json.tmp.*"), "no temporary file left");

    $t->run;

    like($t->error_log, qr/zone "tenants" restored 5 tenants/,
         'start: restored, and logged');

    my $after = zone();
    is($after->{spent_micro_usd}, $before->{spent_micro_usd},
       'restart: the zone spend survives');
    is_deeply([map { "$_->{hash}=$_->{spent_micro_usd}" }
               @{$after->{tenants}}],
              [map { "$_->{hash}=$_->{spent_micro_usd}" }
               @{$before->{tenants}}],
              'restart: every tenant keeps its spend');
    is_deeply([map { $_->{name} . '=' . $_->{requests} } @{$after->{tiers}}],
              [map { $_->{name} . '=' . $_->{requests} } @{$before->{tiers}}],
              'restart: the per-tier counters survive');
}


# -- the periodic save: a killed nginx loses at most one interval ----------

{
    call("Bearer sk-c") for 1 .. 2;
    wait_logged(87);

    my $before = zone();
    sleep 2.5;

    my $master = $t->{nginx_pid};
    my @workers = $t->_workers;
    kill 'KILL', $master, @workers;
    sleep 0.3;
    delete $t->{nginx_pid};
    unlink "$dir/nginx.pid";

    $t->run;

    is(zone()->{spent_micro_usd}, $before->{spent_micro_usd},
       'kill -9: the periodic state file had it all');
}


# -- a corrupt state file ----------------------------------------------------

{
    $t->stop;
    $t->write_file('state.json', '{"version":1,"tenants":[{"hash":"zz"');

    ok($t->run(no_die => 1), 'a corrupt state file does not stop nginx');
    like($t->error_log, qr/state file ".*state\.json" is bad/,
         'the corrupt file is logged');
    ok(-e "$dir/state.json.bad", 'and kept aside as .bad');
    is(zone()->{tenants_total}, 0, 'the zone starts empty');

    call("Bearer sk-d");
    wait_logged(88);
    is(zone()->{tenants_total}, 1, 'and works');

    $t->stop;

    $t->write_file('state.json', $J->encode({ version => 1,
        hash_key => '00' x 16,
        tenants => [{ hash => 'ab' x 16, spent => -5 }] }));

    $t->run;
    like($t->error_log, qr/is bad \(a tenant with a missing or invalid/,
         'a state file with bad numbers is refused whole');

    # truncated, and foreign: each refused with a log line, nginx starts

    $t->stop;

    my $good = $t->read_file('state.json');

    for my $case (
        [ 'truncated', substr($good, 0, int(length($good) / 2)) ],
        [ 'empty', '' ],
        [ 'foreign: another program\'s JSON', '{"tenants":5,"spent":"x"}' ],
        [ 'foreign: a future version', '{"version":2,"tenants":[]}' ],
        [ 'foreign: not JSON at all', "\x89PNG\r\n\x1a\n" ],
    ) {
        my ($name, $text) = @$case;

        $t->stop;
        unlink "$dir/state.json.bad";
        $t->write_file('state.json', $text);
        $t->log_mark;

        ok($t->run(no_die => 1), "$name state file: nginx starts");
        like($t->log_since, qr/state file ".*state\.json" is bad/,
             "$name state file: refused with a log line");
        ok(-e "$dir/state.json.bad", "$name state file: kept aside");
        is(zone()->{tenants_total}, 0, "$name state file: an empty zone");
    }
}


# -- reload with another period ----------------------------------------------

{
    call("Bearer sk-d") for 1 .. 2;
    sleep 0.3;

    my $before = zone()->{spent_micro_usd};

    $t->write_config(conf(period => 'day'));
    $t->log_mark;
    $t->reload;

    like($t->log_since, qr/changes its period from month to day/,
         'a new period on reload is logged');
    is(zone()->{period}, 'day', 'and used');

    my $r = call("Bearer sk-d");
    sleep 0.3;
    my $st = zone();
    my ($d) = grep { $_->{requests} == 1 } @{$st->{tenants}};
    ok($before > 0 && $d && $st->{spent_micro_usd} == $d->{spent_micro_usd},
       "the new period starts from nothing (zone $before before, "
       . "$st->{spent_micro_usd} after one request)");
}


# -- a hash key from a file ---------------------------------------------------

{
    $t->write_file('hash.key', 'a secret of more than sixteen bytes');
    my $c = conf();
    $c =~ s/state_interval=1s;/state_interval=1s\n        hash_key=%%TESTDIR%%\/hash.key;/;
    $t->write_config($c);
    $t->log_mark;
    $t->reload;

    like($t->log_since, qr/zone "tenants" has a new hash key/,
         'a new hash key on reload is logged');

    $t->write_file('short.key', 'too short');
    $c =~ s/hash\.key/short.key/;
    $t->write_config($c);
    my ($rc, $out) = $t->test_config;
    like($out, qr/must hold at least 16 bytes/, 'a short hash key is refused');

    $c =~ s/short\.key/hash.key/;
    $t->write_config($c);
    $t->reload;
    call("Bearer sk-e");
    wait_logged(90);
    $t->stop;

    my $state = $t->read_file('state.json');
    ok($state !~ /"hash_key"/ && $state =~ /"key_check"/,
       'with hash_key the state file holds a check, not the secret');

    $t->run;
    like($t->error_log, qr/restored \d+ tenants/,
         'and is restored under the same key');
}


# -- configuration checks ----------------------------------------------------

{
    $t->write_config(conf(prices => 'tier_router_price small-model '
                          . 'input=1 output=2;'));
    my ($rc, $out) = $t->test_config;
    isnt($rc, 0, 'a tier without a price: nginx -t fails');
    like($out, qr/no price for model "frontier-model"/, 'and says which');

    $t->write_config(conf(prices => 'tier_router_price small-model '
                          . 'input=1,5 output=2;'));
    ($rc, $out) = $t->test_config;
    like($out, qr/invalid price "input=1,5"/, 'a bad price is refused');

    my $url = 'http://127.0.0.1:' . $t->port('mock_small')
              . '/files/catalog.json';

    $t->write_config(conf(prices => "tier_router_price_catalog $url "
                          . "cache=%%TESTDIR%%/cache.json timeout=2s;"));
    ($rc, $out) = $t->test_config;
    is($rc, 0, 'a catalog from a URL') or diag($out);
    ok(-s "$dir/cache.json", 'is kept as the last good copy');

    $url =~ s/catalog\.json/missing.json/;
    $t->write_config(conf(prices => "tier_router_price_catalog $url "
                          . "cache=%%TESTDIR%%/cache.json timeout=2s;"));
    ($rc, $out) = $t->test_config;
    is($rc, 0, 'a failed fetch with a last good copy: nginx -t passes');
    like($out, qr/using the last good copy/, 'with a warning');

    $t->write_config(conf(prices => "tier_router_price_catalog $url "
                          . "cache=%%TESTDIR%%/none.json timeout=2s;"));
    ($rc, $out) = $t->test_config;
    isnt($rc, 0, 'a failed fetch without a copy: nginx -t fails');
    like($out, qr/HTTP status 404|404/, 'and says why');

    $t->write_file('bad-catalog.json', '{"a": {"input_cost_per_token": 1}');
    $t->write_config(conf(prices => 'tier_router_price_catalog '
                          . '%%TESTDIR%%/bad-catalog.json;'));
    ($rc, $out) = $t->test_config;
    like($out, qr/price catalog .*bad-catalog\.json/, 'a broken catalog is '
         . 'refused');
}


# -- the state file as a ledger: who may touch it ---------------------------

my ($nobody_uid, $nogroup_gid) = ((getpwnam 'nobody')[2],
                                  (getgrnam 'nogroup')[2]);

sub restart {
    my (%o) = @_;

    $t->stop;
    $t->write_config(conf(%o));
    $t->log_mark;

    return $t->run(no_die => 1);
}

sub mode_of { sprintf '%o', (lstat $_[0])[2] & 07777 }

sub wait_saved {
    my ($path) = @_;
    my $deadline = time + 5;
    sleep 0.1 until -s $path || time > $deadline;
    return -s $path;
}

SKIP: {
    skip 'as root only: workers of another user', 16 unless $> == 0
        && defined $nobody_uid && defined $nogroup_gid;

    # workers as nobody, the directory theirs: periodic saves for real

    mkdir "$dir/ledger", 0700;
    chown $nobody_uid, $nogroup_gid, "$dir/ledger";

    ok(restart(user => 'nobody nogroup',
               state => '%%TESTDIR%%/ledger/state.json'),
       'workers as nobody, the state directory theirs: nginx starts');
    unlike($t->log_since, qr/cannot write/, 'and no warning');

    call("Bearer sk-nobody") for 1 .. 2;

    ok(wait_saved("$dir/ledger/state.json"),
       'the periodic save writes the file');
    is((lstat "$dir/ledger/state.json")[4], $nobody_uid,
       'owned by the workers\' user');
    is(mode_of("$dir/ledger/state.json"), '600', 'mode 0600');

    my $st = zone()->{state} // {};
    ok($st->{saves} >= 1 && $st->{save_failures} == 0 && $st->{last_save},
       "the status counts the saves ($st->{saves}, "
       . "$st->{save_failures} failed)");

    $t->stop;

    is((lstat "$dir/ledger/state.json")[4], $nobody_uid,
       'saved by the master at exit: still the workers\' user\'s');
    is(mode_of("$dir/ledger/state.json"), '600', 'and 0600');

    # workers as nobody, a directory of root's: saves fail, and say so

    mkdir "$dir/rootdir", 0755;

    ok(restart(user => 'nobody nogroup',
               state => '%%TESTDIR%%/rootdir/state.json'),
       'workers that cannot write the state directory: nginx starts');
    like($t->log_since, qr/user cannot write ".*rootdir": the state of /,
         'with a warning that says what follows');
    like($t->log_since, qr/zone "tenants" is saved only when nginx stops/,
         'what follows, in full');

    call("Bearer sk-rootdir");
    sleep 1.5;

    $st = zone()->{state} // {};
    ok($st->{save_failures} >= 1 && $st->{last_failure},
       'a failed save is counted in the status ('
       . ($st->{save_failures} // 'none') . ')');
    like($st->{last_error} // '', qr/temporary file: Permission denied/,
         "with its error ($st->{last_error})");

    my $prom = $t->http_get('/status?format=prometheus')->{body};
    like($prom, qr/^tier_router_zone_state_save_failures_total\{zone=/m,
         'in Prometheus');
    like($prom, qr/_state_save_failures_total\{zone="tenants"\} [1-9]/,
         'in Prometheus, counted');

    $t->stop;
    ok(-s "$dir/rootdir/state.json", 'the exit save, as root, still works');
}

# directories that others could write, or that are not there: refused

for my $case (
    [ 'writable by others', 0777, undef, qr/writable by its group or others/ ],
    [ 'writable by its group', 0775, undef,
      qr/writable by its group or others/ ],
    [ 'owned by another user', 0755, 54321, qr/owned by another user/ ],
    [ 'missing', undef, undef, qr/cannot be used/ ],
) {
    my ($name, $mode, $uid, $re) = @$case;
    my $d = "$dir/bad-" . ($name =~ s/\W+/-/gr);

    if (defined $mode) {
        mkdir $d;
        chmod $mode, $d;
        chown $uid, -1, $d if defined $uid;
    }

    $t->write_config(conf(state => "$d/state.json"));
    my ($rc, $out) = $t->test_config;
    isnt($rc, 0, "a state directory $name: nginx -t fails");
    like($out, $re, "a state directory $name: and says why");
}

# a link planted at the temporary name: not followed, removed, saved

{
    mkdir "$dir/planted", 0755;
    $t->write_file('victim', "not the state\n");

    ok(restart(state => '%%TESTDIR%%/planted/state.json'),
       'a directory with links planted in it: nginx starts');

    # both workers forked: the saving one's name must be planted too

    my $deadline = time + 5;
    sleep 0.05 while $t->_workers < 2 && time < $deadline;

    my @pids = ($t->{nginx_pid}, $t->_workers);
    symlink "$dir/victim", "$dir/planted/state.json.tmp.$_" for @pids;

    call("Bearer sk-planted");
    ok(wait_saved("$dir/planted/state.json"), 'the periodic save is done');
    $t->stop;

    is($t->read_file('victim'), "not the state\n",
       'the link\'s target is untouched');
    ok(!-l "$dir/planted/state.json" && -f "$dir/planted/state.json",
       'the state file is a file of its own');
    my @gone = grep { !-l "$dir/planted/state.json.tmp.$_" } @pids;
    ok(!-l "$dir/planted/state.json.tmp.$pids[0]" && @gone >= 2,
       'the links at the master\'s and the saving worker\'s names are gone');
    like($t->error_log, qr/removing ".*state\.json\.tmp\.\d+"/,
         'and the log says so');
}

# a FIFO, a directory, a link at the path: refused with a line, nginx
# starts, and what is there is neither renamed nor replaced

for my $case (
    [ 'a FIFO', sub { POSIX::mkfifo($_[0], 0600) }, sub { -p $_[0] } ],
    [ 'a directory', sub { mkdir $_[0] }, sub { -d $_[0] } ],
    [ 'a symbolic link', sub { symlink "$dir/victim", $_[0] },
      sub { -l $_[0] } ],
) {
    my ($name, $make, $still) = @$case;
    my $d = "$dir/path-" . ($name =~ s/\W+/-/gr);

    mkdir $d, 0755;
    $make->("$d/state.json");

    my $started = eval {
        local $SIG{ALRM} = sub { die "timeout\n" };
        alarm 20;
        my $ok = restart(state => "$d/state.json");
        alarm 0;
        $ok;
    };

    ok($started, "$name at the state path: nginx starts")
        or diag($@);

    my @lines = grep { /is not a regular file/ } split /\n/, $t->log_since;
    is(scalar @lines, 1, "$name at the state path: one log line");

    call("Bearer sk-path");
    sleep 1.5;

    my $st = zone();
    is($st->{tenants_total}, 1, "$name at the state path: the zone works");
    like(($st->{state} // {})->{last_error} // '',
         qr/not a regular file, not replaced/,
         "$name at the state path: the save that did not replace it is "
         . "in the status");

    $t->stop;

    ok($still->("$d/state.json"), "$name at the state path: still there");
    ok(!-e "$d/state.json.bad", "$name at the state path: not renamed");
}

is($t->read_file('victim'), "not the state\n",
   'the target of the link at the path is untouched');

# amounts past the bound are refused; amounts at it saturate

{
    ok(restart(), 'back to the state file');
    call("Bearer sk-huge");
    call("Bearer sk-huge", limit => '0.000001');
    sleep 0.3;

    my $before = zone();
    ok($before->{requests} > 0 && $before->{refused} > 0,
       "zone counters before a restart ($before->{requests} requests, "
       . "$before->{refused} refused)");

    $t->stop;

    my $state = TierRouter::Test::json_decode($t->read_file('state.json'));
    ok($state->{requests} && defined $state->{refused},
       'the zone\'s counters are in the state file');

    ok(restart(), 'restarted');
    my $after = zone();
    is_deeply([@$after{qw(requests refused capped estimated full evicted)}],
              [@$before{qw(requests refused capped estimated full evicted)}],
              'restart: the zone\'s requests, refused, capped, estimated, '
              . 'full and evicted survive');

    my $MAX = 9007199254740991;
    my $text = $t->read_file('state.json');
    $t->stop;

    my $huge = TierRouter::Test::json_decode($text);
    $_->{spent} = 9223372036854775807 for @{$huge->{tenants}};
    $t->write_file('state.json', $J->encode($huge));
    unlink "$dir/state.json.bad";

    ok(restart(), 'a spend of 2^63 - 1: nginx starts');
    like($t->log_since, qr/is bad \(a tenant with an amount or count out/,
         'the file is refused, and the log says why');
    is(zone()->{tenants_total}, 0, 'the zone starts empty');
    $t->stop;

    my $edge = TierRouter::Test::json_decode($text);
    $_->{spent} = $_->{total} = $MAX - 5 for @{$edge->{tenants}};
    $edge->{spent} = $edge->{total} = $MAX - 5;
    $t->write_file('state.json', $J->encode($edge));
    unlink "$dir/state.json.bad";

    ok(restart(), 'a spend 5 micro-dollars below the bound: restored');

    my $r = call("Bearer sk-huge");
    is($r->{status}, 200, 'without a limit: served');
    sleep 0.3;

    my $z = zone();
    my ($tn) = grep { $_->{spent_micro_usd} > 1e15 } @{$z->{tenants}};
    is(($tn // {})->{spent_micro_usd}, $MAX,
       'the tenant\'s spend saturates at 2^53 - 1, it does not wrap');
    is($z->{spent_micro_usd}, $MAX, 'so does the zone\'s');

    $r = call("Bearer sk-huge", limit => '1000');
    is($r->{status}, 429, 'and a limit still refuses it');
    $t->stop;
}

# a binary upgrade (USR2, WINCH, QUIT): both masters share the state file
# for a while; nothing the old workers settled is lost

{
    unlink "$dir/state.json";
    ok(restart(), 'before the upgrade: nginx starts');

    my $n0 = wait_logged(0);
    my $logged0 = logged_micros();
    my $old = $t->{nginx_pid};

    call("Bearer sk-upgrade-$_", tag => 'u') for 1 .. 10;
    sleep 1.5;                              # a periodic save, then more
    call("Bearer sk-upgrade-$_", tag => 'u') for 1 .. 10;

    kill 'USR2', $old;

    my $deadline = time + 10;
    my $new;

    while (time < $deadline) {
        $new = -e "$dir/nginx.pid.oldbin" && $t->_pid_from_file;
        last if $new && $new != $old;
        sleep 0.05;
    }

    ok($new && $new != $old, "USR2: a new master ($new) beside the old "
       . "($old)");

    call("Bearer sk-upgrade-$_", tag => 'u') for 1 .. 20;   # both serve

    kill 'WINCH', $old;
    sleep 0.5;
    call("Bearer sk-upgrade-$_", tag => 'u') for 1 .. 10;   # the new ones

    kill 'QUIT', $old;

    $deadline = time + 10;
    sleep 0.05 while kill(0, $old) && time < $deadline;
    waitpid $old, POSIX::WNOHANG();
    ok(!kill(0, $old), 'QUIT: the old master is gone, its state saved');

    $t->{nginx_pid} = $new;

    my $n = wait_logged($n0 + 50);
    is($n, $n0 + 50, 'every request of the upgrade logged');

    sleep 2.5;                              # the new one merges and saves

    my $logged = logged_micros() - $logged0;
    my $z = zone();
    is($z->{spent_micro_usd}, $logged, "the new nginx holds all the spend "
       . "the log says ($logged micro-dollars), the old workers' too");
    like($t->error_log, qr/micro-dollars that an older nginx settled merg/,
         'the merge is logged');

    $t->stop;

    my $state = TierRouter::Test::json_decode($t->read_file('state.json'));
    is($state->{spent}, $logged, 'and so does the state file at its stop');
    ok(!-e "$dir/nginx.pid.oldbin", 'no old pid file left');
}

unlike($t->error_log, qr/\[(alert|crit)\]/,
       'no alert or crit in the error log');

$t->stop;

done_testing;
