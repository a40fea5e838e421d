#!/usr/bin/perl

# Faults and attacks through nginx + the module + mock models, as listed
# in docs/reliability.md: a worker killed mid-request, numbers beyond any
# range, a 100 MB body, the status page behind allow/deny, and client
# headers that try to choose a tier or smuggle a second model.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use JSON::PP;
use IO::Socket::INET;
use Time::HiRes qw(sleep time);

use TierRouter::Test;

my $t = TierRouter::Test->new;
my $J = JSON::PP->new->utf8->canonical;

$t->mock($_) for qw(small mid frontier);

$t->write_config(<<'EOF2');
worker_processes 1;

http {
    %%HTTP_DEFAULTS%%

    %%THREE_TIERS%%

    tier_router_budget_zone zone=tenants:1m period=total
                            state=%%TESTDIR%%/tenants.json;

    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_set_header Accept-Encoding "";

    server {
        listen 127.0.0.1:%%PORT_main%%;

        client_max_body_size 200m;

        location /v1/ {
            tier_router on;
            tier_router_budget zone=tenants key=$http_authorization;
            proxy_pass http://$tier_router_upstream;
        }

        location /override/ {
            tier_router on;
            tier_router_override_header X-Tier;
            proxy_pass http://$tier_router_upstream;
        }

        location = /status {
            tier_router off;
            tier_router_status tenants;
        }

        location = /status-private {
            tier_router off;
            allow 127.0.0.2;
            deny all;
            tier_router_status tenants;
        }
    }
}
EOF2

$t->run;

my $HARD = 'Design a multi-region ledger with exactly-once semantics, prove '
    . 'it is consistent under partitions and implement it in Rust.';


sub chat {
    my ($path, $body, @h) = @_;

    my $r = $t->http_post($path, ref $body ? $J->encode($body) : $body,
        'Content-Type' => 'application/json',
        'Authorization' => 'Bearer sk-faults', @h);
    $r->{json} = TierRouter::Test::json_decode($r->{body});

    return $r;
}


sub zone {
    return TierRouter::Test::json_decode($t->http_get('/status')->{body});
}


my $msgs = [{ role => 'user', content => 'Say hello.' }];

# -- a worker killed mid-request ---------------------------------------------

{
    my $r = chat('/v1/chat/completions',
                 { model => 'x', max_tokens => 10, messages => $msgs });
    is($r->{status}, 200, 'before the kill: 200');

    my $before = zone();
    ok($before->{spent_micro_usd} > 0, 'before the kill: spent '
       . $before->{spent_micro_usd});

    my $body = $J->encode({ model => 'x', max_tokens => 10,
                            messages => $msgs });
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
        PeerPort => $t->port('main'), Proto => 'tcp') or die;
    print $s "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
        . "Content-Type: application/json\r\n"
        . "Authorization: Bearer sk-faults\r\nX-Mock-Latency-Ms: 2000\r\n"
        . "Content-Length: " . length($body) . "\r\n\r\n$body";

    sleep 0.3;

    my ($worker) = $t->_workers;
    kill 'KILL', $worker;

    my $deadline = time + 5;
    my @now;

    while (time < $deadline) {
        @now = grep { $_ != $worker } $t->_workers;
        last if @now;
        sleep 0.05;
    }

    ok(@now, 'the master started a new worker');

    local $/;
    my $raw = <$s> // '';
    close $s;
    ok($raw !~ /^HTTP\/1\.1 200/, 'the request in flight was lost with its '
       . 'worker (the client saw the connection close)');

    $r = chat('/v1/chat/completions',
              { model => 'x', max_tokens => 10, messages => $msgs });
    is($r->{status}, 200, 'the new worker serves');

    my $after = zone();
    ok($after->{spent_micro_usd} > $before->{spent_micro_usd},
       'settled spend kept, and the new request added to it');
    is($after->{tenants_total}, $before->{tenants_total},
       'the tenant is the same one');
    ok($after->{reserved_micro_usd} > 0, 'the killed request\'s reservation '
       . 'stays reserved (' . $after->{reserved_micro_usd} . '): never '
       . 'under-counted');

    # at the stop it is charged its worst case, and said so

    $t->log_mark;
    $t->stop;

    like($t->log_since, qr/"tenants": 1 requests in flight when nginx stopped/,
         'stop: the request the killed worker left is logged');
    like($t->log_since, qr/are charged their worst case, \d+ micro-dollars/,
         'stop: with what it is charged');

    $t->run;

    my $back = zone();
    is($back->{unsettled}, 1, 'and counted in the status (unsettled)');
    is($back->{unsettled_micro_usd}, $after->{reserved_micro_usd},
       'with its worst case');
    is($back->{spent_micro_usd},
       $after->{spent_micro_usd} + $after->{reserved_micro_usd},
       'which is charged: spend is never under-counted');
    is($back->{reserved_micro_usd}, 0, 'nothing reserved after the start');
}

# -- numbers beyond any range --------------------------------------------------

{
    my $r = chat('/v1/chat/completions', '{"model":"x","max_tokens":1e999,'
        . '"messages":[{"role":"user","content":"hi"}]}');
    is($r->{status}, 400, 'max_tokens 1e999: 400');
    is($r->{json}{error}{param}, 'max_tokens',
       'max_tokens 1e999: says which field (param)');

    $r = chat('/v1/chat/completions', '{"model":"x","max_tokens":'
        . '99999999999999999999999,"messages":[{"role":"user",'
        . '"content":"hi"}]}');
    is($r->{status}, 400, 'max_tokens beyond 64 bits: 400');

    $r = chat('/v1/chat/completions', '{"model":"x","temperature":1e999,'
        . '"messages":[{"role":"user","content":"hi"}],"max_tokens":10}');
    is($r->{status}, 200, 'temperature 1e999 (not read by the router): '
       . 'valid JSON, passed on for the upstream to judge');
}

# -- JSON nested 100,000 deep, and invalid UTF-8 -------------------------------

{
    my $r = chat('/v1/chat/completions', '{"model":"x","messages":[{"role":'
        . '"user","content":"hi"}],"metadata":' . ('[' x 100000)
        . (']' x 100000) . '}');
    is($r->{status}, 400, 'nesting 100,000 deep: 400');
    like($r->{json}{error}{message} // '', qr/nest|deep/i,
         'nesting 100,000 deep: says so');

    $r = chat('/v1/chat/completions', qq({"model":"x","messages":[{"role":)
        . qq("user","content":"caf\xc3 \xff"}]}));
    is($r->{status}, 400, 'invalid UTF-8: 400');
}

# -- a 100 MB body -----------------------------------------------------------

{
    my $t0 = time;
    my $r = $t->http_post('/v1/chat/completions', 'x',
        'Content-Type' => 'application/json',
        -content_length => 100 * 1024 * 1024);
    is($r->{status}, 413, '100 MB by Content-Length: 413 before reading it');
    ok(time - $t0 < 2, sprintf('... at once (%.2f s)', time - $t0));

    my $chunk = 'a' x (1024 * 1024);
    $t0 = time;
    $r = $t->http_post('/v1/chat/completions', undef,
        'Content-Type' => 'application/json',
        -chunks => [ '{"model":"x","messages":[{"role":"user","content":"',
                     ($chunk) x 100, '"}]}' ],
        -timeout => 30);
    is($r->{status}, 413, '100 MB chunked: 413 once the limit is passed');

    $r = chat('/v1/chat/completions',
              { model => 'x', max_tokens => 10, messages => $msgs });
    is($r->{status}, 200, 'and the worker goes on');
}

# -- the status page is the operator's to protect --------------------------

{
    my $r = $t->http_get('/status-private');
    is($r->{status}, 403, 'status behind deny all: 403');
    unlike($r->{body}, qr/spent_micro_usd/, '... and nothing of it');
}

# -- a client cannot choose its tier or smuggle a model ----------------------

{
    my $r = chat('/v1/chat/completions',
                 { model => 'x', max_tokens => 10, messages => $msgs },
                 'X-Tier' => 'frontier', 'X-Tier-Router-Tier' => 'frontier');
    is($r->{headers}{'x-tier-router-tier'}, 'small',
       'tier headers without tier_router_override_header: ignored');

    $r = chat('/override/chat/completions',
              { model => 'x', max_tokens => 10, messages => $msgs },
              'X-Tier' => 'frontier');
    is($r->{headers}{'x-tier-router-tier'}, 'frontier',
       'the override header works only where the operator named it');

    for my $case (
        [ 'a second model', '{"model":"small-model","messages":[{"role":'
          . '"user","content":"hi"}],"model":"frontier-model"}' ],
        [ 'a model hidden by an escape', '{"model":"small-model",'
          . '"mod\u0065l":"frontier-model","messages":[{"role":"user",'
          . '"content":"hi"}]}' ],
        [ 'a model hidden behind a NUL', '{"model":"small-model",'
          . '"model\u0000x":"frontier-model","messages":[{"role":"user",'
          . '"content":"hi"}]}' ],
        [ 'a second user text', '{"model":"x","messages":[{"role":"user",'
          . '"content":"hi","content":"' . $HARD . '"}]}' ],
    ) {
        my ($name, $body) = @$case;
        $r = chat('/v1/chat/completions', $body);
        is($r->{status}, 400, "$name: refused (400)");
        like($r->{json}{error}{message} // '', qr/ambiguous/,
             "$name: as ambiguous");
    }

    my $raw = $t->raw("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
        . "Content-Type: application/json\r\nContent-Length: 5\r\n"
        . "Content-Length: 60\r\nConnection: close\r\n\r\n"
        . '{"model":"x","messages":[{"role":"user","content":"hi"}]}');
    like($raw, qr/^HTTP\/1\.1 400/, 'two Content-Length headers: 400 '
         . '(nginx)');
}

unlike(join("\n", grep { !/exited on signal 9/ } split /\n/, $t->error_log),
       qr/\[(alert|emerg)\]/,
       'no alert or emerg in the log but the killed worker\'s');

done_testing;
