#!/usr/bin/perl

# The official SDKs (openai and @anthropic-ai/sdk from the npm registry,
# installed here into build/sdk) as clients of nginx and the module:
#
# - a stream that its upstream breaks off reaches the application broken
#   (the SDK's loop raises), with fallback on, in all three APIs, while a
#   whole stream reads whole;
# - a client that accepts gzip (as the SDKs' fetch does) never sees the
#   usage chunk the module asked for, and is charged from the usage read;
# - the SDKs' other calls (models.list(), responses.retrieve(),
#   embeddings, count_tokens, batches) are answered, not nginx's 500.
#
# TEST_SDK=0 skips this file (where no npm registry can be reached).

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use JSON::PP;
use File::Copy qw(copy);
use File::Compare qw(compare);

use TierRouter::Test;

plan(skip_all => 'TEST_SDK=0') if ($ENV{TEST_SDK} // '') eq '0';

my $root = TierRouter::Test->repo;
my $sdk = "$root/build/sdk";
my $J = JSON::PP->new->utf8->canonical;

# the SDKs, at the versions of t/sdk/package.json

mkdir "$root/build";
mkdir $sdk;

if (!-d "$sdk/node_modules/openai" || !-d "$sdk/node_modules/\@anthropic-ai"
    || compare("$root/t/sdk/package.json", "$sdk/package.json") != 0)
{
    copy("$root/t/sdk/package.json", "$sdk/package.json") or die "$!";

    my $rc = system("cd '$sdk' && npm install --no-audit --no-fund "
                    . "--loglevel=error > npm.log 2>&1");

    BAIL_OUT("npm install failed (see $sdk/npm.log; TEST_SDK=0 skips)")
        if $rc != 0;
}

copy("$root/t/sdk/client.mjs", "$sdk/client.mjs") or die "$!";

my $t = TierRouter::Test->new;

$t->mock($_) for qw(small mid frontier);

$t->write_config(<<'EOF');
http {
    %%HTTP_DEFAULTS%%

    %%THREE_TIERS%%

    tier_router_budget_zone zone=tenants:1m period=total;

    log_format sdk 'S id=$http_x_id cost=$tier_router_cost '
                   'est=$tier_router_cost_estimated '
                   'up=$tier_router_upstream status=$status';

    access_log %%TESTDIR%%/sdk.log sdk;

    proxy_http_version 1.1;
    proxy_set_header Connection "";

    server {
        listen 127.0.0.1:%%PORT_main%%;

        tier_router on;
        tier_router_override_header X-Tier;

        # fallback on, as in the example
        location /fb/ {
            tier_router_fallback error timeout http_429 http_502 http_503
                                 http_504;
            proxy_buffering off;
            rewrite ^/fb(/.*)$ $1 break;
            proxy_pass http://$tier_router_upstream;
        }

        # an Anthropic stream's error event before content: the next tier
        location /sfb/ {
            tier_router_fallback stream_error;
            proxy_buffering off;
            rewrite ^/sfb(/.*)$ $1 break;
            proxy_pass http://$tier_router_upstream;
        }

        # the cost back to the caller, in the usage
        location /rc/ {
            tier_router_budget zone=tenants key=$http_authorization;
            tier_router_report_cost on;
            rewrite ^/rc(/.*)$ $1 break;
            proxy_pass http://$tier_router_upstream;
        }

        # budgets, and the client's Accept-Encoding as it comes
        location /v1/ {
            tier_router_budget zone=tenants key=$http_authorization;
            proxy_pass http://$tier_router_upstream;
        }
    }
}
EOF

$t->run;

my $base = 'http://127.0.0.1:' . $t->port('main');
my $seq = 0;

sub sdk {
    my ($call, $prefix, %h) = @_;

    my $id = 's' . ++$seq;
    my $spec = $J->encode({ call => $call, headers => { 'X-Id' => $id, %h },
        baseURL => $base . $prefix . ($call =~ /^(messages|count|batches)/
                                      ? '' : '/v1') });

    my $out = `cd '$sdk' && node client.mjs '$spec' 2>&1`;
    my $r = TierRouter::Test::json_decode($out) // { ok => 0,
        error => 'no JSON', message => $out };

    $r->{log} = $t->log_entry('sdk.log', 'S', $id);

    return $r;
}

# -- the cost the module reports, as the SDKs give it to the application -----

for my $call (qw(chat-cost chat-stream-cost messages-cost)) {
    my $r = sdk($call, '/rc', 'X-Tier' => 'small',
                'X-Mock-Input-Tokens' => 1000, 'X-Mock-Output-Tokens' => 500);
    ok($r->{ok}, "$call: answered") or diag(explain $r);
    is($r->{cost}, 0.002, "$call: usage.cost reaches the application "
       . '(1000 x $1 + 500 x $2 per million)');
    is(sprintf('%.6f', $r->{cost} // 0), $r->{log}{cost},
       "$call: ... as the tenant is charged");
}

# -- a stream broken off reaches the application broken ----------------------

for my $call (qw(chat-stream responses-stream messages-stream)) {
    my $r = sdk($call, '/fb', 'X-Tier' => 'small');
    ok($r->{ok} && $r->{chunks} > 3 && length $r->{text},
       "$call, fallback on, whole: read whole ($r->{chunks} events)")
        or diag(explain $r);

    $r = sdk($call, '/fb', 'X-Tier' => 'small', 'X-Mock-Break-After' => 3);
    ok(!$r->{ok}, "$call, fallback on, broken off after 3 events: the SDK "
       . "raises (" . ($r->{error} // 'nothing') . ': '
       . ($r->{message} // '') . ')');

    $r = sdk($call, '/fb', 'X-Tier' => 'small', 'X-Mock-For' => 'small',
             'X-Mock-Status' => 503, 'X-Mock-At-mid-Break-After' => 3);
    ok(!$r->{ok}, "$call: small 503, then mid broken off: the SDK raises");
}

# -- an Anthropic stream that answers 200, then an overloaded error ----------

{
    my $r = sdk('messages-stream', '/fb', 'X-Tier' => 'small',
                'X-Mock-For' => 'small', 'X-Mock-Stream-Error' => 1);
    ok(!$r->{ok}, 'messages stream, 200 then an error event, stream_error '
       . 'not named: the SDK raises (' . ($r->{error} // 'nothing') . ': '
       . ($r->{message} // '') . ')');

    $r = sdk('messages-stream', '/sfb', 'X-Tier' => 'small',
             'X-Mock-For' => 'small', 'X-Mock-Stream-Error' => 1);
    ok($r->{ok} && $r->{chunks} > 3 && length $r->{text},
       'stream_error named: the SDK reads the next tier\'s stream whole')
        or diag(explain $r);
    is($r->{log}{up}, 'mid_up', '... from the next tier');
}

# -- gzip accepted: the usage chunk never reaches the application -------------

{
    my $r = sdk('chat-stream', '', 'X-Tier' => 'small',
                'X-Mock-Input-Tokens' => 1000, 'X-Mock-Output-Tokens' => 500);
    ok($r->{ok} && $r->{chunks} > 3, 'chat stream through a budget: read')
        or diag(explain $r);
    is($r->{emptyChoices}, 0, 'no chunk with empty choices (the usage chunk '
       . 'the module asked for) reaches the application');
    is("$r->{log}{cost} $r->{log}{est}", '0.002000 0',
       'and it is charged from the usage read (1000 in, 500 out at $1/$2 '
       . 'per million), not estimated');

    $r = sdk('chat', '', 'X-Tier' => 'small',
             'X-Mock-Input-Tokens' => 1000, 'X-Mock-Output-Tokens' => 500);
    ok($r->{ok} && $r->{model} eq 'small-model', 'chat JSON: read');
    is("$r->{log}{cost} $r->{log}{est}", '0.002000 0', 'chat JSON: charged '
       . 'from its usage');
}

# -- the SDKs' other calls ------------------------------------------------

for my $call (qw(models-list responses-retrieve embeddings count-tokens
                 batches-list))
{
    my $r = sdk($call, '');
    ok($r->{ok}, "$call: answered (not nginx's 500)") or diag(explain $r);
    is($r->{log}{up}, 'small_up', "$call: passed on to the first tier");

    is($r->{model}, 'text-embedding-3-small', 'embeddings: its model as '
       . 'the application sent it, not rewritten to a chat model')
        if $call eq 'embeddings';
}

unlike($t->error_log, qr/\[(alert|crit)\]/, 'no alert or crit in the log');

$t->stop;

done_testing;
