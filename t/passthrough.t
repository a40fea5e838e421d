#!/usr/bin/perl

# What the module routes, and what it passes on: under the documented
# "location /v1/ { tier_router on; proxy_pass http://$tier_router_upstream; }"
# only POSTs to chat completions, responses and messages are routed; the
# SDKs' other calls (models.list(), responses.retrieve(), embeddings,
# moderations, count_tokens, batches, an assistant thread's messages) go
# untouched to tier_router_passthrough (or the first tier's upstream),
# never to nginx's 500; another method carrying a body to a routed API is
# refused in the dialect's shape.

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

    log_format pt 'P id=$http_x_id up=$tier_router_upstream '
                  'tier=$tier_router_tier status=$status';

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
