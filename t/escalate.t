#!/usr/bin/perl

# Confidence escalation through nginx + the module + mock models: an
# answer cut short, empty, refused, or not the JSON asked for is dropped
# and the next tier up answers, in every dialect; a good answer is sent as
# it came; the attempt bound, the cap, the budget and the buffer bound
# hold; streams are not held; every attempt is charged.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use JSON::PP;
use Time::HiRes qw(sleep time);
use IO::Socket::INET;

use TierRouter::Test;

my $t = TierRouter::Test->new;
my $J = JSON::PP->new->utf8->canonical;

my $counts = $t->testdir . '/requests.log';

$t->mock($_, args => ['--count-file', $counts]) for qw(small mid frontier);

my $conf = <<'EOF2';
worker_processes 1;

http {
    %%HTTP_DEFAULTS%%

    %%THREE_TIERS%%

    tier_router_budget_zone zone=tenants:1m period=total;

    map $http_x_cap $cap {
        default  $http_x_cap;
    }

    log_format esc 'E id=$http_x_id status=$status tier=$tier_router_tier '
                   'n=$tier_router_attempts path="$tier_router_attempt_log" '
                   'cost=$tier_router_cost';

    access_log %%TESTDIR%%/esc.log esc;

    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_set_header Accept-Encoding "";

    server {
        listen 127.0.0.1:%%PORT_main%%;

        tier_router on;
        tier_router_override_header X-Tier;
        tier_router_max_tier $cap;
        tier_router_budget zone=tenants key=$http_authorization
                           limit=$http_x_limit;

        location /esc/ {
            tier_router_escalate length empty refusal json;
            tier_router_attempts 3;
            proxy_pass http://$tier_router_upstream;
        }

        location /len/ {
            tier_router_escalate length;
            proxy_pass http://$tier_router_upstream;
        }

        location /small-buffer/ {
            tier_router_escalate length;
            tier_router_escalate_buffer 1k;
            proxy_buffering off;
            proxy_pass http://$tier_router_upstream;
        }

        location /lp/ {
            tier_router_escalate logprob=-1.0;
            proxy_pass http://$tier_router_upstream;
        }

        location /both/ {
            tier_router_fallback http_503;
            tier_router_escalate length;
            tier_router_attempts 3;
            proxy_pass http://$tier_router_upstream;
        }

        location = /status {
            tier_router off;
            tier_router_status tenants;
        }
    }
}
EOF2

$t->write_config($conf);
$t->run;

sub call {
    my (%o) = @_;

    my $prefix = delete $o{path} // '/esc/';

    return $t->llm_call(prefix => $prefix, key => 'Bearer sk-esc-default',
                        log => ['esc.log', 'E'], counts => 'requests.log', %o);
}



sub model_of {
    my ($r) = @_;
    return $r->{json}{model} // '';
}


# -- a good answer is held, judged and sent as it came ----------------------

my $r = call();

is($r->{status}, 200, 'good answer: 200');
is(model_of($r), 'small-model', 'good answer: from small');
is($r->{tried}, 'small', 'good answer: one attempt');
is($r->{headers}{'content-length'}, length($r->{body}),
    'good answer: Content-Length is the body\'s');
is($r->{json}{choices}[0]{message}{content},
    'This is a mock answer from the small tier.',
    'good answer: the body as the upstream sent it');
is($r->{headers}{'x-tier-router-path'}, undef, 'good answer: no path');
like($r->{log}{path}, qr/^small:200:0\.\d+$/, 'good answer: one attempt '
    . 'logged');

# -- each signal, each dialect -----------------------------------------------

for my $d (qw(chat responses anthropic)) {
    for my $sig (qw(length refusal)) {
        $r = call(dialect => $d, headers => ['X-Mock-For' => 'small',
                                             'X-Mock-Finish' => $sig]);

        is($r->{status}, 200, "$d, $sig: 200");
        is(model_of($r), 'mid-model', "$d, $sig: mid answered");
        is($r->{tried}, 'small mid', "$d, $sig: small, then mid");
        is($r->{headers}{'x-tier-router-path'}, "small:200:$sig mid",
            "$d, $sig: X-Tier-Router-Path");
        like($r->{log}{path}, qr/^small:200:0\.\d+:$sig mid:200:0\.\d+$/,
            "$d, $sig: the attempt log " . ($r->{log}{path} // ''));
        unlike($r->{body}, qr/small|mock\)/,
            "$d, $sig: nothing of small's answer reaches the client");
    }

    $r = call(dialect => $d, headers => ['X-Mock-For' => 'small',
                                         'X-Mock-Text' => '']);
    is(model_of($r), 'mid-model', "$d, empty: mid answered");
    like($r->{log}{path}, qr/:empty mid:/, "$d, empty: logged");
}

$r = call(headers => ['X-Mock-For' => 'small', 'X-Mock-Text' => "  \t "]);
is(model_of($r), 'mid-model', 'blank (white space only): escalated');

# json: only when the request asked for JSON

$r = call(json => 1, headers => ['X-Mock-For' => 'small',
                                 'X-Mock-Text' => 'Sure! {"a": 1}',
                                 'X-Mock-At-mid-Text' => '{"ok": true}']);
is(model_of($r), 'mid-model', 'json asked, prose answered: escalated');
like($r->{log}{path}, qr/:json mid:/, 'json: logged');

$r = call(json => 1, headers => ['X-Mock-For' => 'small',
                                 'X-Mock-Text' => '{"a": 1, "b": [2]}']);
is(model_of($r), 'small-model', 'json asked, JSON answered: kept');

$r = call(json => 1, headers => ['X-Mock-For' => 'small',
                                 'X-Mock-Text' => '{"a": 1, "a": 2}',
                                 'X-Mock-At-mid-Text' => '{"ok": true}']);
is(model_of($r), 'mid-model', 'json asked, duplicate keys: escalated');

$r = call(json => 1);
is(model_of($r), 'frontier-model', 'json asked, prose from every tier: up '
    . 'to the last attempt, whose answer is kept');
is($r->{headers}{'x-tier-router-path'},
    'small:200:json mid:200:json frontier', '... the path');

$r = call(headers => ['X-Mock-For' => 'small', 'X-Mock-Text' => 'prose']);
is(model_of($r), 'small-model', 'json not asked: prose kept');

# a signal not named is not acted on

$r = call(path => '/len/', headers => ['X-Mock-For' => 'small',
                                       'X-Mock-Finish' => 'refusal']);
is(model_of($r), 'small-model', 'only length named: a refusal is kept');
like($r->{body}, qr/can't help/, 'only length named: the refusal as sent');

# -- logprobs: asked for, judged, taken out again ----------------------------

$r = call(path => '/lp/');
is(model_of($r), 'small-model', 'logprob: a confident answer is kept');
is($r->{headers}{'x-mock-asked-logprobs'}, 1,
    'logprob: the module asked small for logprobs');
ok(exists $r->{json}{choices}[0]{logprobs}
   && !defined $r->{json}{choices}[0]{logprobs},
   'logprob: the client, who did not ask, gets "logprobs": null');
is($r->{headers}{'content-length'}, length($r->{body}),
    'logprob: Content-Length is the new body\'s');
is($r->{json}{choices}[0]{message}{content},
    'This is a mock answer from the small tier.', 'logprob: the text kept');
is($r->{json}{usage}{completion_tokens}, 9, 'logprob: the usage kept');

$r = call(path => '/lp/', headers => ['X-Mock-For' => 'small',
                                      'X-Mock-Logprob' => '-2.5']);
is(model_of($r), 'mid-model', 'logprob: a mean of -2.5 < -1: mid');
is($r->{headers}{'x-tier-router-path'}, 'small:200:logprob mid',
    'logprob: the path');
is($r->{headers}{'x-mock-asked-logprobs'}, undef,
    'logprob: the last attempt is not asked (it is not judged)');

$r = call(path => '/lp/', headers => ['X-Mock-Logprob' => '-0.9']);
is(model_of($r), 'small-model', 'logprob: a mean of -0.9: kept');

{
    my $body = $J->encode({ model => 'x', logprobs => JSON::PP::true,
        messages => [{ role => 'user', content => 'Hi.' }] });
    my $rr = $t->http_post('/lp/chat/completions', $body,
        'Content-Type' => 'application/json', 'X-Tier' => 'small',
        'Authorization' => 'Bearer sk-esc-default');
    my $j = TierRouter::Test::json_decode($rr->{body});
    is(ref $j->{choices}[0]{logprobs}{content}, 'ARRAY',
       'logprob: a client that asked gets its logprobs');

    $body = $J->encode({ model => 'x', logprobs => JSON::PP::false,
        messages => [{ role => 'user', content => 'Hi.' }] });
    $rr = $t->http_post('/lp/chat/completions', $body,
        'Content-Type' => 'application/json', 'X-Tier' => 'small',
        'Authorization' => 'Bearer sk-esc-default');
    $j = TierRouter::Test::json_decode($rr->{body});
    is($rr->{headers}{'x-mock-asked-logprobs'}, 1,
       'logprob: "logprobs": false is turned true upstream');
    ok(!defined $j->{choices}[0]{logprobs},
       '... and the client gets none');
}

$r = call(path => '/lp/', dialect => 'anthropic');
is($r->{headers}{'x-mock-asked-logprobs'}, undef,
    'logprob: nothing asked of Anthropic, which has none');

# -- bounds: attempts, the top tier, the cap, the budget ---------------------

$r = call(headers => ['X-Mock-For' => 'small,mid',
                      'X-Mock-Finish' => 'length']);
is(model_of($r), 'frontier-model', 'small and mid cut short: frontier');
is($r->{headers}{'x-tier-router-path'},
    'small:200:length mid:200:length frontier', '... the path');

$r = call(path => '/len/', headers => ['X-Mock-For' => 'small,mid',
                                       'X-Mock-Finish' => 'length']);
is(model_of($r), 'mid-model', 'attempts 2: mid\'s answer, cut short or not');
is($r->{json}{choices}[0]{finish_reason}, 'length',
    'attempts 2: as mid sent it');
is($r->{tried}, 'small mid', 'attempts 2: two attempts');

$r = call(tier => 'frontier', headers => ['X-Mock-Finish' => 'length']);
is(model_of($r), 'frontier-model', 'the top tier: its answer, cut short');
is($r->{tried}, 'frontier', 'the top tier: one attempt');

$r = call(cap => 'small', headers => ['X-Mock-Finish' => 'length']);
is(model_of($r), 'small-model', 'max_tier small: no escalation past it');
is($r->{tried}, 'small', 'max_tier small: one attempt');

$r = call(key => 'Bearer sk-esc-poor', limit => '0.001',
          headers => ['X-Mock-For' => 'small', 'X-Mock-Finish' => 'length']);
is(model_of($r), 'small-model', 'budget: mid not affordable, small\'s '
    . 'answer is kept');
is($r->{tried}, 'small', 'budget: no request to mid');

# -- money: both attempts charged --------------------------------------------

$r = call(key => 'Bearer sk-esc-money',
          headers => ['X-Mock-For' => 'small', 'X-Mock-Finish' => 'length']);
my ($c1, $c2) = $r->{log}{path} =~ /small:200:(\S+):length mid:200:(\S+)/;
ok($c1 > 0, "money: the dropped answer is charged ($c1)");
ok($c2 > 0, "money: the kept answer is charged ($c2)");
is(sprintf('%.6f', $r->{log}{cost}), sprintf('%.6f', $c1 + $c2),
    'money: $tier_router_cost is the sum');

# -- the buffer bound, broken answers, streams, fallback with escalation -----

$r = call(path => '/small-buffer/',
          headers => ['X-Mock-Finish' => 'length', 'X-Mock-Words' => 2000]);
is($r->{status}, 200, 'larger than the buffer: 200');
is(model_of($r), 'small-model', 'larger than the buffer: not judged, kept');
is(scalar(split / /, $r->{json}{choices}[0]{message}{content} // ''), 2000,
    'larger than the buffer: whole');

$r = call(path => '/small-buffer/', headers => ['X-Mock-For' => 'small',
                                                'X-Mock-Finish' => 'length']);
is(model_of($r), 'mid-model', 'within the buffer: judged');

$r = call(headers => ['X-Mock-For' => 'small', 'X-Mock-Break-After' => 10]);
is($r->{status}, 200, 'small breaks off its answer: 200');
is(model_of($r), 'mid-model', 'small breaks off: mid answered');

$r = call(tier => 'frontier', headers => ['X-Mock-Break-After' => 10]);
ok($r->{status} == 502 || $r->{error} || $r->{timeout} || !$r->{json},
    'the last tier breaks off: the client sees it broken, nothing made up ('
    . ($r->{status} // 'none') . ')');

$r = call(stream => 1, headers => ['X-Mock-For' => 'small',
                                   'X-Mock-Finish' => 'length']);
is($r->{status}, 200, 'stream: 200');
is($r->{tried}, 'small', 'stream: not held, not escalated');
like($r->{body}, qr/data: \[DONE\]/, 'stream: whole');

$r = call(path => '/both/', headers => [
    'X-Mock-At-small-Status' => 503,
    'X-Mock-At-mid-Finish' => 'length']);
is(model_of($r), 'frontier-model', 'fallback then escalation: frontier');
is($r->{headers}{'x-tier-router-path'}, 'small:503 mid:200:length frontier',
    'fallback then escalation: the path');

# -- no blocking: one worker serves others while attempts wait ---------------

# a chat request on a connection of its own, its answer left to read later

sub send_later {
    my ($text, @h) = @_;

    my $body = $J->encode({ model => 'x', max_tokens => 100,
        messages => [{ role => 'user', content => $text }] });
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
        PeerPort => $t->port('main'), Proto => 'tcp') or die "connect: $!";

    print $s "POST /esc/chat/completions HTTP/1.1\r\nHost: x\r\n"
        . "Content-Type: application/json\r\nX-Tier: small\r\n"
        . join('', map { "$h[2 * $_]: $h[2 * $_ + 1]\r\n" } 0 .. $#h / 2)
        . "Connection: close\r\nContent-Length: " . length($body)
        . "\r\n\r\n$body";

    return $s;
}

{
    my @slow = map { send_later('Slow, then short.',
                                'Authorization' => 'Bearer sk-esc-slow',
                                'X-Mock-For' => 'small',
                                'X-Mock-Latency-Ms' => 800,
                                'X-Mock-Finish' => 'length') } 1 .. 3;

    sleep 0.1;

    my $worst = 0;

    for my $i (1 .. 5) {
        my $t0 = time;
        my $q = call(tier => 'mid');
        $worst = time - $t0 if time - $t0 > $worst;
        is($q->{status}, 200, "no blocking: request $i served meanwhile");
    }

    ok($worst < 0.5, sprintf('no blocking: the slowest took %.3f s while 3 '
        . 'attempts waited 0.8 s', $worst));

    for my $s (@slow) {
        local $/;
        my $raw = <$s>;
        close $s;
        my $resp = TierRouter::Test::parse_response($raw);
        like($resp->{body} // '', qr/"model":"mid-model"/,
            'no blocking: the slow request was escalated to mid');
    }
}

# a client that leaves while its answer is held: nothing stays reserved

{
    my $s = send_later('Leaving.', 'Authorization' => 'Bearer sk-esc-gone',
                       'X-Mock-Latency-Ms' => 300);
    sleep 0.1;
    close $s;
    sleep 0.6;
}

# -- status ------------------------------------------------------------------

my $st = TierRouter::Test::json_decode($t->http_get('/status')->{body});
my %esc = map { $_->{name} => $_->{escalated} } @{$st->{tiers} || []};
ok(($esc{small} // 0) >= 10, "status: small escalated $esc{small} times");
is($st->{reserved} // 0, 0, 'status: nothing left reserved');

unlike($t->error_log, qr/\[(alert|crit|emerg)\]/,
       'no alert, crit or emerg in the error log');

done_testing;
