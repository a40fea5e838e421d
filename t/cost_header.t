#!/usr/bin/perl

# tier_router_cost_header: a non-streamed answer is held until its usage
# is read and sent with X-Tier-Router-Cost and an exact Content-Length;
# streams, errors and answers larger than the buffer pass as they come,
# without it.  The header is the amount the access log charges, attempts
# on other tiers included.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use JSON::PP;

use TierRouter::Test;

my $t = TierRouter::Test->new;

$t->mock($_) for qw(small big claude);

$t->write_config(<<'EOF');
http {
    %%HTTP_DEFAULTS%%

    upstream small_up { server 127.0.0.1:%%PORT_mock_small%%; }
    upstream big_up { server 127.0.0.1:%%PORT_mock_big%%; }
    upstream claude_up { server 127.0.0.1:%%PORT_mock_claude%%; }

    tier_router_ladder openai api=openai {
        tier small model=gpt-s upstream=small_up;
        tier big model=gpt-b upstream=big_up;
    }

    tier_router_ladder anthropic api=anthropic {
        tier claude model=claude-x upstream=claude_up;
    }

    # $1 and $2 per million tokens; the big tier ten times as much
    tier_router_price gpt-s input=1 output=2;
    tier_router_price gpt-b input=10 output=20;
    tier_router_price claude-x input=3 output=15;

    tier_router_budget_zone zone=tenants:1m period=total;

    log_format cost 'C id=$http_x_id cost=$tier_router_cost '
                    'tier=$tier_router_tier';
    access_log %%TESTDIR%%/cost.log cost;

    server {
        listen 127.0.0.1:%%PORT_main%%;

        tier_router_budget zone=tenants key=$http_authorization;
        tier_router_cost_header on buffer=4k;

        location /v1/messages {
            tier_router on;
            tier_router_use anthropic;
            proxy_pass http://$tier_router_upstream;
        }

        location /v1/ {
            tier_router on;
            tier_router_use openai;
            proxy_pass http://$tier_router_upstream;
        }

        location /chunked/v1/ {
            tier_router on;
            tier_router_use openai;
            proxy_http_version 1.1;
            proxy_pass http://$tier_router_upstream;
        }

        location /usage/v1/ {
            tier_router on;
            tier_router_use openai;
            tier_router_report_cost on;
            proxy_pass http://$tier_router_upstream;
        }

        location /escalate/v1/ {
            tier_router on;
            tier_router_use openai;
            tier_router_escalate length;
            tier_router_attempts 2;
            proxy_pass http://$tier_router_upstream;
        }

        location /fallback/v1/ {
            tier_router on;
            tier_router_use openai;
            tier_router_fallback http_503;
            proxy_pass http://$tier_router_upstream;
        }

        location /off/v1/ {
            tier_router on;
            tier_router_use openai;
            tier_router_cost_header off;
            proxy_pass http://$tier_router_upstream;
        }
    }
}
EOF

$t->run;

my $n = 0;
my @tok = qw(X-Mock-Input-Tokens 1000 X-Mock-Output-Tokens 100);

sub call {
    my ($path, $body, @h) = @_;

    my $id = 'c' . ++$n;
    my $r = $t->post_json($path, $body, 'Authorization' => 'Bearer sk-c',
                          'X-Id' => $id, @h);

    $r->{json} = eval { decode_json($r->{body}) };
    $r->{log} = $t->log_entry('cost.log', 'C', $id);

    return $r;
}

my %chat = (model => 'auto', max_tokens => 100,
            messages => [{ role => 'user', content => 'Say hello.' }]);

# chat, responses, messages: the header, the log's amount, the length

my $r = call('/v1/chat/completions', \%chat, @tok);
is($r->{status}, 200, 'chat: 200');
is($r->{headers}{'x-tier-router-cost'}, '0.001200',
   'chat: 1000 x $1 + 100 x $2 per million: $0.0012');
is($r->{headers}{'x-tier-router-cost'}, $r->{log}{cost},
   'chat: what the tenant is charged');
is($r->{headers}{'content-length'}, length $r->{body},
   'chat: an exact Content-Length');
ok(!defined $r->{headers}{'transfer-encoding'}, 'chat: not chunked');
is($r->{json}{usage}{prompt_tokens}, 1000, 'chat: the body as it came');

$r = call('/v1/responses', { model => 'auto', input => 'Say hello.',
                             max_output_tokens => 100 }, @tok);
is($r->{headers}{'x-tier-router-cost'}, '0.001200', 'responses: the header');
is($r->{json}{usage}{input_tokens}, 1000, 'responses: the body');

$r = call('/v1/messages', { model => 'auto', max_tokens => 100,
    messages => [{ role => 'user', content => 'Say hello.' }] }, @tok);
is($r->{headers}{'x-tier-router-cost'}, '0.004500',
   'messages: 1000 x $3 + 100 x $15: $0.0045');
is($r->{headers}{'x-tier-router-cost'}, $r->{log}{cost},
   'messages: the log\'s');

# the same amount in the usage, where both are on

$r = call('/usage/v1/chat/completions', \%chat, @tok);
is($r->{headers}{'x-tier-router-cost'}, '0.001200', 'with usage.cost: header');
is($r->{json}{usage}{cost}, 0.0012, 'with usage.cost: the same in the body');
is($r->{headers}{'content-length'}, length $r->{body},
   'with usage.cost: the length of the body changed');

# a stream is never held

$r = call('/v1/chat/completions', { %chat, stream => JSON::PP::true() },
          @tok);
is($r->{status}, 200, 'stream: 200');
ok(!defined $r->{headers}{'x-tier-router-cost'}, 'stream: no header');
like($r->{body}, qr/data: \[DONE\]/, 'stream: whole');
is($r->{log}{cost}, '0.001200', 'stream: charged all the same');

# larger than the buffer (4k), as its length says: as it comes, without
# the header

$r = call('/v1/chat/completions', \%chat, @tok, 'X-Mock-Words' => 2000);
is($r->{status}, 200, 'large: 200');
ok(!defined $r->{headers}{'x-tier-router-cost'}, 'large: no header');
ok($r->{json} && length $r->{body} > 4096, 'large: the whole body, valid');
is($r->{log}{cost}, '0.001200', 'large: charged');

# chunked, no length: held, then found too large on the way

$r = call('/chunked/v1/chat/completions', \%chat, @tok,
          'X-Mock-Words' => 2000, 'X-Mock-Chunked' => 1,
          'X-Mock-Split' => 1000);
is($r->{status}, 200, 'large, chunked: 200');
ok(!defined $r->{headers}{'x-tier-router-cost'}, 'large, chunked: no header');
ok($r->{json} && $r->{json}{usage}, 'large, chunked: the whole body, valid');
is($r->{log}{cost}, '0.001200', 'large, chunked: charged');
like($t->error_log, qr/larger than the tier_router_cost_header buffer/,
     'large, chunked: logged');

# chunked and small: held whole, with the header and a length

$r = call('/chunked/v1/chat/completions', \%chat, @tok,
          'X-Mock-Chunked' => 1, 'X-Mock-Split' => 50);
is($r->{headers}{'x-tier-router-cost'}, '0.001200', 'chunked: the header');
is($r->{headers}{'content-length'}, length $r->{body},
   'chunked: a Content-Length now');
is($r->{json}{usage}{prompt_tokens}, 1000, 'chunked: the body, whole');

# an error passes as it came

$r = call('/v1/chat/completions', \%chat, 'X-Mock-Status' => 500);
is($r->{status}, 500, 'error: passed on');
ok(!defined $r->{headers}{'x-tier-router-cost'}, 'error: no header');
ok($r->{json}{error}, 'error: its body');

# HEAD-less, off: no header

$r = call('/off/v1/chat/completions', \%chat, @tok);
ok(!defined $r->{headers}{'x-tier-router-cost'}, 'off: no header');

# an answer cut short on the small tier, taken again on the big one: the
# header counts both

$r = call('/escalate/v1/chat/completions', \%chat, @tok,
          'X-Mock-For' => 'small', 'X-Mock-Finish' => 'length');
is($r->{status}, 200, 'escalated: 200');
is($r->{log}{tier}, 'big', 'escalated: to the big tier');
is($r->{headers}{'x-tier-router-cost'}, $r->{log}{cost},
   'escalated: the header is what the tenant is charged');
ok($r->{headers}{'x-tier-router-cost'} > 0.0012,
   'escalated: the small tier\'s answer included');
is($r->{headers}{'content-length'}, length $r->{body},
   'escalated: an exact length');

# a 503 on the small tier, the big one answers

$r = call('/fallback/v1/chat/completions', \%chat,
          'X-Mock-For' => 'small', 'X-Mock-Status' => 503);
is($r->{status}, 200, 'fallback: 200');
is($r->{log}{tier}, 'big', 'fallback: the big tier');
is($r->{headers}{'x-tier-router-cost'}, $r->{log}{cost},
   'fallback: the header is the charge');

unlike($t->error_log, qr/\[(alert|crit|emerg)\]/, 'no alert in the log');

$t->stop;

# configuration

for my $bad ('on buffer=10', 'on size=4k', 'maybe') {
    $t->write_config(<<"EOF", file => 'bad.conf');
http {
    tier_router_cost_header $bad;
}
EOF
    my ($rc, $out) = $t->test_config('bad.conf');
    isnt($rc, 0, "refused: tier_router_cost_header $bad") or diag($out);
}

done_testing;
