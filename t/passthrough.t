#!/usr/bin/perl

# What the module routes, and what it passes on: under the documented
# "location /v1/ { tier_router on; proxy_pass http://$tier_router_upstream; }"
# only POSTs to chat completions, responses and messages are routed; the
# SDKs' other calls (models.list(), responses.retrieve(), embeddings,
# moderations, count_tokens, batches, an assistant thread's messages) go
# untouched to tier_router_passthrough (or the first tier's upstream),
# never to nginx's 500; another method carrying a body to a routed API is
# refused in the dialect's shape.  Under a budget, an unrouted POST is
# metered: its tenant checked (a spent one refused), its answer's usage
# charged at the answering model's price, or the dearest tier's if it has
# none; calls that report no usage (count_tokens, batches) cost nothing.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use JSON::PP;
use Digest::SHA qw(sha1_hex);

use TierRouter::Test;

my $t = TierRouter::Test->new;
my $J = JSON::PP->new->utf8->canonical;

$t->mock($_) for qw(small mid frontier pass);

$t->write_config(<<'EOF');
http {
    %%HTTP_DEFAULTS%%

    %%THREE_TIERS%%

    upstream pass_up { server 127.0.0.1:%%PORT_mock_pass%%; }

    tier_router_price emb-model input=50 output=0;
    tier_router_budget_zone zone=pt:1m period=month;
    tier_router_budget_clock 1794744000;

    map $http_x_limit $limit { "" ""; default $http_x_limit; }

    log_format pt 'P id=$http_x_id up=$tier_router_upstream '
                  'tier=$tier_router_tier status=$status '
                  'cost=$tier_router_cost in=$tier_router_input_tokens '
                  'spend=$tier_router_tenant_spend '
                  'reason=$tier_router_reason';

    access_log %%TESTDIR%%/pt.log pt;

    server {
        listen 127.0.0.1:%%PORT_main%%;

        location /v1/ {
            tier_router on;
            tier_router_passthrough pass_up;
            proxy_pass http://$tier_router_upstream;
        }

        location /default/ {
            tier_router on;
            proxy_pass http://$tier_router_upstream;
        }

        location = /pt-status {
            tier_router_status pt;
        }

        location /metered/ {
            tier_router on;
            tier_router_passthrough pass_up;
            tier_router_budget zone=pt key=$http_authorization
                               limit=$limit;
            proxy_pass http://$tier_router_upstream;
        }
    }
}
EOF

$t->run;

my $seq = 0;

sub req {
    my ($method, $path, $body, @h) = @_;

    my $id = 'p' . ++$seq;
    my $r = $t->http($method, $path, defined $body ? (body => $body) : (),
        headers => ['Content-Type' => 'application/json', 'X-Id' => $id,
                    'X-Mock-Echo' => 1, @h]);

    $r->{json} = TierRouter::Test::json_decode($r->{body});
    $r->{log} = $t->log_entry('pt.log', 'P', $id);

    return $r;
}

my $chat = $J->encode({ model => 'auto', messages => [
    { role => 'user', content => 'Say hello.' }] });

# the SDKs' other calls: untouched, to the passthrough upstream

for my $case (
    [ 'GET', '/v1/models', undef ],
    [ 'GET', '/v1/responses/resp_abc123', undef ],
    [ 'DELETE', '/v1/responses/resp_abc123', undef ],
    [ 'GET', '/v1/chat/completions', undef ],
    [ 'POST', '/v1/embeddings',
      '{"model":"text-embedding-3-small","input":"hello"}' ],
    [ 'POST', '/v1/moderations',
      '{"model":"omni-moderation-latest","input":"hello"}' ],
    [ 'POST', '/v1/messages/count_tokens',
      '{"model":"claude-sonnet-4-5","messages":[{"role":"user",'
      . '"content":"hi"}]}' ],
    [ 'POST', '/v1/messages/batches', '{"requests":[]}' ],
    [ 'POST', '/v1/threads/thread_1/messages',
      '{"role":"user","content":"hi"}' ],
    [ 'POST', '/v1/completions', '{"model":"auto","prompt":"hi"}' ],
) {
    my ($method, $path, $body) = @$case;
    my $r = req($method, $path, $body);

    is($r->{status}, 200, "$method $path: 200, not nginx's 500");
    is($r->{headers}{'x-mock-name'}, 'pass',
       "$method $path: to tier_router_passthrough");
    is($r->{headers}{'x-mock-request-uri'}, $path,
       "$method $path: the URI as sent");
    is($r->{headers}{'x-mock-request-method'}, $method,
       "$method $path: the method as sent");
    is($r->{headers}{'x-mock-request-sha1'}, sha1_hex($body // ''),
       "$method $path: the body untouched (its model not rewritten)");
    ok(!exists $r->{headers}{'x-tier-router-tier'},
       "$method $path: no routing headers");
    is($r->{log}{up}, 'pass_up',
       "$method $path: \$tier_router_upstream is pass_up, never empty");
}

# the APIs the module routes

for my $path ('/v1/chat/completions', '/v1/messages', '/v1/responses') {
    my $body = $path =~ /responses/
        ? '{"model":"auto","input":"Say hello."}'
        : $path =~ /messages/
          ? '{"model":"auto","max_tokens":10,"messages":[{"role":"user",'
            . '"content":"Say hello."}]}'
          : $chat;

    my $r = req('POST', $path, $body);

    is($r->{status}, 200, "POST $path: routed");
    isnt($r->{headers}{'x-mock-name'}, 'pass', "POST $path: to a tier");
    ok($r->{headers}{'x-tier-router-tier'}, "POST $path: with its tier");
    isnt($r->{log}{up}, 'pass_up', "POST $path: \$tier_router_upstream is "
         . "the tier's ($r->{log}{up})");
}

# no tier_router_passthrough: the first tier's upstream

{
    my $r = req('GET', '/default/v1/models');
    is($r->{status}, 200, 'no tier_router_passthrough: GET /v1/models 200');
    is($r->{headers}{'x-mock-name'}, 'small', 'to the first tier');
    is($r->{log}{up}, 'small_up', '$tier_router_upstream: small_up');
}

# another method with a body to a routed API: refused, not passed unread

for my $case (
    [ 'GET', '/v1/chat/completions', 'openai' ],
    [ 'PUT', '/v1/chat/completions', 'openai' ],
    [ 'PATCH', '/v1/responses', 'openai' ],
    [ 'DELETE', '/v1/messages', 'anthropic' ],
    [ 'OPTIONS', '/v1/messages', 'anthropic' ],
) {
    my ($method, $path, $shape) = @$case;
    my $r = req($method, $path, $chat);

    is($r->{status}, 400, "$method $path with a chat body: 400");
    ok(!exists $r->{headers}{'x-mock-name'},
       "$method $path with a body: no upstream asked");

    if ($shape eq 'openai') {
        TierRouter::Test::openai_error_ok($r, "$method $path");
    } else {
        TierRouter::Test::anthropic_error_ok($r, "$method $path");
    }

    like($r->{body}, qr/read with POST only/, "$method $path: says why");
}

{
    my $r = $t->http('GET', '/v1/chat/completions',
        headers => ['Transfer-Encoding' => 'chunked', 'X-Mock-Echo' => 1],
        chunks => [$chat]);
    is($r->{status}, 400, 'GET with a chunked body: 400 too');

    $r = req('OPTIONS', '/v1/chat/completions');
    is($r->{headers}{'x-mock-name'}, 'pass',
       'OPTIONS without a body (a preflight): passed on');
}

# under a budget: unrouted POSTs are metered, by the answering model

sub metered {
    my ($method, $path, $body, $key, @h) = @_;

    my $id = 'p' . ++$seq;
    my $r = $t->http($method, "/metered$path",
        defined $body ? (body => $body) : (),
        headers => ['Content-Type' => 'application/json', 'X-Id' => $id,
                    $key ? ('Authorization' => "Bearer $key") : (), @h]);

    $r->{json} = TierRouter::Test::json_decode($r->{body});
    $r->{log} = $t->log_entry('pt.log', 'P', $id);

    return $r;
}

sub spend_of {
    my ($key) = @_;
    my $r = metered('POST', '/v1/messages/count_tokens',
                    '{"model":"m","messages":[]}', $key);
    return $r->{log}{spend};
}

{
    my $r = metered('POST', '/v1/embeddings',
                    '{"model":"emb-model","input":"hello"}', 'k-emb',
                    'Accept-Encoding' => 'gzip');
    is($r->{status}, 200, 'metered embeddings: 200');
    is($r->{headers}{'x-mock-name'}, 'pass', 'metered: to the passthrough');
    is($r->{json}{model}, 'emb-model', 'metered: the answer passed on');
    is($r->{log}{in}, 2, 'metered: the 2 input tokens it reported');
    is($r->{log}{cost}, '0.000100',
       'metered: charged at emb-model\'s price (2 x $50/M)');
    is($r->{log}{spend}, '0.000100', 'metered: the tenant\'s spend');
    is($r->{log}{reason}, 'passthrough', '$tier_router_reason: passthrough');
    is($r->{log}{tier}, '-', 'metered: no tier');
}

{
    my $body = '{"model":"emb-model","input":"hello"}';
    my $r = metered('POST', '/v1/embeddings', $body, 'k-echo',
                    'X-Mock-Echo' => 1, 'Accept-Encoding' => 'gzip');
    is($r->{headers}{'x-mock-request-sha1'}, sha1_hex($body),
       'metered: the body untouched');
    is($r->{headers}{'x-mock-request-accept-encoding'}, 'identity',
       'metered: its answer asked for uncompressed, to be read');
}

{
    my $r = metered('POST', '/v1/embeddings',
                    '{"model":"no-price-model","input":"hello"}', 'k-dear');
    is($r->{status}, 200, 'unpriced model: 200');
    is($r->{log}{cost}, '0.000200',
       'unpriced model: charged at the dearest tier (2 x $100/M)');
    like($t->error_log, qr/model "no-price-model" that answered .* has no price: charged at the dearest tier/,
         'unpriced model: logged');
}

for my $case (
    [ '/v1/messages/count_tokens',
      '{"model":"claude-sonnet-4-5","messages":[{"role":"user",'
      . '"content":"hi"}]}' ],
    [ '/v1/messages/batches', '{"requests":[]}' ],
    [ '/v1/moderations', '{"model":"emb-model","input":"x"}' ],
) {
    my ($path, $body) = @$case;
    my $r = metered('POST', $path, $body, 'k-free');
    is($r->{status}, 200, "metered $path: 200");
    is($r->{log}{cost}, '0.000000', "metered $path: no usage, no charge");
}

is(spend_of('k-free'), '0.000000', 'count_tokens, batches: spend 0');

# the upstream fails: its error passes on, and costs nothing

{
    my $body = '{"model":"emb-model","input":"hello"}';
    my $r = metered('POST', '/v1/embeddings', $body, 'k-fail',
                    'X-Mock-Status' => 500);
    is($r->{status}, 500, 'metered, upstream 500: passed on');
    is($r->{log}{cost}, '0.000000', 'metered, upstream 500: no charge');

    $r = metered('POST', '/v1/embeddings', $body, 'k-fail',
                 'X-Mock-Break-After' => 20);
    is($r->{log}{cost}, '0.000000',
       'metered, answer cut before its usage: nothing to charge');
    is(spend_of('k-fail'), '0.000000', 'metered failures: spend 0');
}

{
    my $r = metered('GET', '/v1/responses/resp_abc123', undef, 'k-get');
    is($r->{status}, 200, 'metered GET of a stored response: 200');
    is($r->{log}{cost}, '-',
       'a GET is not metered: a stored response is not charged twice');

    $r = metered('GET', '/v1/models', undef, undef);
    is($r->{status}, 200, 'a GET without a key: passed on, not metered');
}

# a spent tenant is refused, in the call's own shape

{
    my $body = '{"model":"emb-model","input":"hello"}';
    my $r = metered('POST', '/v1/embeddings', $body, 'k-spent',
                    'X-Limit' => '0');
    is($r->{status}, 429, 'spent tenant: embeddings refused');
    ok(!exists $r->{headers}{'x-mock-name'}, 'spent: no upstream asked');
    TierRouter::Test::openai_error_ok($r, 'spent embeddings',
                                     'insufficient_quota');
    is($r->{json}{error}{code}, 'budget_exceeded', 'spent: budget_exceeded');
    is($r->{log}{reason}, 'passthrough,budget_spent',
       'spent: $tier_router_reason says why');

    $r = metered('POST', '/v1/messages/count_tokens',
                 '{"model":"m","messages":[]}', 'k-spent', 'X-Limit' => '0');
    is($r->{status}, 429, 'spent tenant: count_tokens refused');
    TierRouter::Test::anthropic_error_ok($r, 'spent count_tokens',
                                        'rate_limit_error');

    $r = metered('POST', '/v1/embeddings', $body, undef);
    is($r->{status}, 401, 'metered POST without a key: 401');

    $r = metered('POST', '/v1/embeddings', $body, 'k-limit',
                 'X-Limit' => '0.0001');
    is($r->{status}, 200, 'within its limit: served');
    $r = metered('POST', '/v1/embeddings', $body, 'k-limit',
                 'X-Limit' => '0.0001');
    is($r->{status}, 429, 'its limit reached by metered spend: refused');
}

# the zone's totals count metered requests; no tier is charged for them

{
    my $r = $t->http('GET', '/pt-status');
    my $st = TierRouter::Test::json_decode($r->{body});
    my $tier_requests = 0;
    $tier_requests += $_->{requests} for @{$st->{tiers} // []};

    is($tier_requests, 0, 'status: no tier counts a metered request');
    is($st->{spent_micro_usd}, 100 + 200 + 100,
       'status: the zone\'s spend is the metered charges');
    ok($st->{requests} >= 7, "status: metered requests ($st->{requests})");
    is($st->{reserved_micro_usd}, 0, 'status: nothing left reserved');
}

# the directive's mistakes

{
    $t->write_config(<<'EOF', file => 'bad.conf');
http {
    upstream u { server 127.0.0.1:1; }
    tier_router_tier small model=m upstream=u;
    tier_router_passthrough nowhere;
    server { listen 127.0.0.1:1; }
}
EOF

    my ($rc, $out) = $t->_capture($t->_nginx_cmd('-t', '-c',
                                                 $t->testdir . '/bad.conf'));
    isnt($rc, 0, 'tier_router_passthrough to no upstream: nginx -t fails');
    like($out, qr/"tier_router_passthrough": no upstream "nowhere"/,
         'and says which');
}

unlike($t->error_log, qr/\[(alert|crit)\]/, 'no alert in the log');

$t->stop;

done_testing;
