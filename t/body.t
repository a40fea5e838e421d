#!/usr/bin/perl

# Request body handling: temp files, chunked bodies, Expect: 100-continue,
# HTTP/2, access control before the body is read, and the 400/413 errors.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use JSON::PP;
use Time::HiRes qw(sleep time);

use TierRouter::Test;

*openai_error_ok = \&TierRouter::Test::openai_error_ok;
*anthropic_error_ok = \&TierRouter::Test::anthropic_error_ok;

my $t = TierRouter::Test->new(log_level => 'debug');
my $J = JSON::PP->new->utf8->canonical;

$t->mock($_) for qw(small mid frontier);

$t->write_file('htpasswd',
    'alice:' . crypt('secret', '$6$tiersalt$') . "\n");

my $have_h2 = 1;

$t->write_config(<<'EOF');
http {
    %%HTTP_DEFAULTS%%

    %%THREE_TIERS%%
    log_format tr 'TR tier=$tier_router_tier status=$status uri=$uri';
    access_log %%TESTDIR%%/tr.log tr;

    client_body_buffer_size 8k;
    client_max_body_size 1m;
    client_body_timeout 10s;
    lingering_timeout 1s;

    server {
        listen 127.0.0.1:%%PORT_main%%;
        listen 127.0.0.1:%%PORT_h2%% http2;

        location /v1/ {
            tier_router on;
            proxy_pass http://$tier_router_upstream;
        }

        location /limit/ {
            tier_router on;
            tier_router_max_body_size 32k;
            proxy_pass http://$tier_router_upstream;
        }

        location /big/ {
            client_body_buffer_size 1m;
            tier_router on;
            tier_router_max_body_size 1m;
            proxy_pass http://$tier_router_upstream;
        }

        location /file/ {
            client_body_in_file_only on;
            tier_router on;
            proxy_pass http://$tier_router_upstream;
        }

        location /deny/ {
            deny all;
            tier_router on;
            proxy_pass http://$tier_router_upstream;
        }

        location /basic/ {
            auth_basic "tier router";
            auth_basic_user_file %%TESTDIR%%/htpasswd;
            tier_router on;
            proxy_pass http://$tier_router_upstream;
        }

        location /authreq/ {
            auth_request /auth_no;
            tier_router on;
            proxy_pass http://$tier_router_upstream;
        }

        location /authok/ {
            auth_request /auth_yes;
            tier_router on;
            proxy_pass http://$tier_router_upstream;
        }

        location = /auth_no {
            internal;
            return 403;
        }

        location = /auth_yes {
            internal;
            return 204;
        }
    }
}
EOF

$t->run;

my $ROUTINE = "Translate 'hello' into French.";

sub chat_tmpl {
    my ($prompt, $pad) = @_;
    # a long conversation of routine turns, then the routine question
    my @m;
    push @m, { role => 'user', content => $pad }, { role => 'assistant',
        content => 'ok' } if $pad;
    push @m, { role => 'user', content => $prompt };
    my $b = $J->encode({ model => '__M__', messages => \@m });
    return $b;
}

sub fill { my ($tmpl, $m) = @_; (my $b = $tmpl) =~ s/__M__/$m/; $b }

# the responses in what a connection received, in order
sub responses {
    my ($left) = @_;
    my @r;

    while (length $left) {
        my $r = TierRouter::Test::parse_response($left);
        last unless $r->{status};
        push @r, $r;
        $left = $r->{trailing} // '';
    }

    return @r;
}

sub post {
    my ($path, $body, @h) = @_;
    my %opt;
    while (@h && $h[0] =~ /^-/) { my $k = shift @h; $opt{substr $k, 1} =
        shift @h; }
    my $r = $t->http('POST', $path, body => $body, %opt,
        headers => ['Content-Type' => 'application/json', @h]);
    $r->{json} = TierRouter::Test::json_decode($r->{body});
    return $r;
}

# a body larger than client_body_buffer_size goes through a temp file

{
    my $pad = join ' ', ('lorem ipsum dolor sit amet') x 2600;   # ~70 KB
    my $tmpl = chat_tmpl($ROUTINE, $pad);
    my $sent = fill($tmpl, 'auto');
    ok(length($sent) > 64 * 1024, 'big body is ' . length($sent) . ' bytes');

    $t->log_mark;
    my $r = post('/v1/chat/completions', $sent, 'X-Mock-Echo' => 1);
    my $log = $t->log_since;

    is($r->{status}, 200, 'temp file body: 200');
    ok($r->{headers}{'x-tier-router-tier'}, 'temp file body: routed to '
        . ($r->{headers}{'x-tier-router-tier'} // 'nothing'));
    my $tier = $r->{headers}{'x-tier-router-tier'} // 'small';
    my $expect = fill($tmpl, "$tier-model");
    ok($r->{body} eq $expect, 'temp file body: echoed byte-identical but'
        . ' the model');
    is($r->{headers}{'x-mock-request-content-length'}, length $expect,
        'temp file body: Content-Length follows');
    like($log, qr/a client request body is buffered to a temporary file/,
        'temp file body: really buffered to a file');

    # the same through chunked transfer encoding, in pieces

    my @pieces = map { substr($sent, $_ * 8000, 8000) }
        0 .. int(length($sent) / 8000);
    $r = $t->http('POST', '/v1/chat/completions', chunks => \@pieces,
        chunk_delay => 0.01, headers => ['X-Mock-Echo' => 1]);
    is($r->{status}, 200, 'big chunked body: 200');
    ok($r->{body} eq $expect, 'big chunked body: byte-identical');
    is($r->{headers}{'x-mock-request-content-length'}, length $expect,
        'big chunked body: sent upstream with Content-Length');
}

# chunked request bodies, in several chunks with delays

{
    my $tmpl = '{"model": "__M__", "messages": [{"role": "user", '
        . '"content": "Translate \'hello\' into French."}], "n": 1}';
    my $sent = fill($tmpl, 'auto');
    my $expect = fill($tmpl, 'small-model');

    my @chunks = (substr($sent, 0, 5), substr($sent, 5, 7),
        substr($sent, 12, 30), substr($sent, 42));

    my $r = $t->http('POST', '/v1/chat/completions', chunks => \@chunks,
        chunk_delay => 0.1, headers => ['X-Mock-Echo' => 1,
        'Content-Type' => 'application/json']);
    is($r->{status}, 200, 'chunked: 200');
    is($r->{headers}{'x-tier-router-tier'}, 'small', 'chunked: small');
    ok($r->{body} eq $expect, 'chunked: byte-identical but the model');
    is($r->{headers}{'x-mock-request-content-length'}, length $expect,
        'chunked: upstream gets Content-Length');

    # one byte per chunk across the model value
    @chunks = split //, $sent;
    $r = $t->http('POST', '/v1/chat/completions', chunks => \@chunks,
        headers => ['X-Mock-Echo' => 1]);
    ok($r->{body} eq $expect, 'chunked one byte per chunk: identical');

    # not echoed: the mock answers with the model it got
    $r = $t->http('POST', '/v1/chat/completions', chunks => \@chunks);
    is(TierRouter::Test::json_decode($r->{body})->{model}, 'small-model',
        'chunked: answer from small-model');
}

# Expect: 100-continue

{
    my $tmpl = chat_tmpl($ROUTINE);
    my $r = post('/v1/chat/completions', fill($tmpl, 'auto'),
        -expect => 1, 'X-Mock-Echo' => 1);
    ok($r->{continue}, '100 Continue received');
    is($r->{status}, 200, 'Expect: 100-continue: 200');
    ok($r->{body} eq fill($tmpl, 'small-model'),
        'Expect: 100-continue: body rewritten');

    $r = $t->http('POST', '/v1/chat/completions', expect => 1,
        chunks => [ substr(fill($tmpl, 'auto'), 0, 10),
                    substr(fill($tmpl, 'auto'), 10) ],
        headers => ['X-Mock-Echo' => 1]);
    ok($r->{continue}, 'chunked + 100-continue: 100 received');
    ok($r->{body} eq fill($tmpl, 'small-model'),
        'chunked + 100-continue: body rewritten');
}

# raw HTTP/1.1: pipelined requests, Content-Length with Transfer-Encoding

{
    my $t1 = chat_tmpl($ROUTINE);
    my $t2 = chat_tmpl("Summarize: the cat sat on the mat.");
    my ($b1, $b2) = (fill($t1, 'auto'), fill($t2, 'mid-model'));

    my $req = sub {
        my ($b, $last) = @_;
        return "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
            . "X-Mock-Echo: 1\r\nContent-Type: application/json\r\n"
            . ($last ? "Connection: close\r\n" : '')
            . "Content-Length: " . length($b) . "\r\n\r\n" . $b;
    };

    my $raw = $t->raw($req->($b1) . $req->($b2, 1), timeout => 5);
    my @bodies = map { $_->{body} } responses($raw);

    is(scalar @bodies, 2, 'pipelined: two responses');
    ok(($bodies[0] // '') eq fill($t1, 'small-model'),
        'pipelined: first body rewritten');
    ok(($bodies[1] // '') eq $b2, 'pipelined: second body (pinned) intact');

    # Content-Length and Transfer-Encoding together: a smuggling attempt,
    # which nginx (1.22) refuses before the router reads anything

    my $cb = fill($t1, 'auto');
    $raw = $t->raw("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
        . "X-Mock-Echo: 1\r\nContent-Length: 5\r\n"
        . "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        . sprintf("%x\r\n%s\r\n0\r\n\r\n", length $cb, $cb),
        timeout => 5);
    my $r = TierRouter::Test::parse_response($raw);

    is($r->{status}, 400, 'CL + TE: refused with 400');
    unlike($r->{body}, qr/mock answer|small-model/,
           'CL + TE: nothing reached a model');

    # a bad chunk size is nginx's 400, not the router's
    $raw = $t->raw("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
        . "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        . "zz\r\n{}\r\n0\r\n\r\n", timeout => 5);
    like($raw, qr{^HTTP/1\.1 400}, 'bad chunk size: 400');
}

# the start of the body in the headers' packet, the rest later: read into
# one buffer of the body's length when it fits client_body_buffer_size (8k
# here), else as before; either way what goes upstream is the body with
# its model replaced, and a pipelined request after it is read as its own

for my $case ([6000, 300, 1], [6000, 300, 3], [8192, 500, 2],
              [20000, 300, 2], [6000, 1, 2])
{
    my ($size, $first, $n) = @$case;
    my $tmpl = chat_tmpl($ROUTINE, 'x' x $size);
    my $body = fill($tmpl, 'auto');
    my $want = fill($tmpl, 'small-model');
    my $b2 = fill(chat_tmpl("Summarize: the cat sat on the mat."),
                  'mid-model');

    my $head = "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
        . "X-Mock-Echo: 1\r\nContent-Type: application/json\r\n"
        . "Content-Length: " . length($body) . "\r\n\r\n";
    my $second = "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
        . "X-Mock-Echo: 1\r\nContent-Type: application/json\r\n"
        . "Connection: close\r\n"
        . "Content-Length: " . length($b2) . "\r\n\r\n" . $b2;

    # the headers and $first bytes, then the rest in $n pieces, the last
    # with the pipelined request

    my $rest = substr($body, $first);
    my $step = int(length($rest) / $n) + 1;
    my @pieces = ($head . substr($body, 0, $first));
    push @pieces, substr($rest, $_ * $step, $step) for 0 .. $n - 1;
    $pieces[-1] .= $second;

    my $raw = $t->raw('', pieces => \@pieces, delay => 0.05, timeout => 10);
    my @r = responses($raw);

    my $what = "a ${size}-byte body, $first bytes with the headers, "
               . "the rest in $n";

    is(scalar @r, 2, "$what: two responses");
    ok(($r[0]{body} // '') eq $want, "$what: the body as sent, its model "
       . 'replaced');
    ok(($r[1]{body} // '') eq $b2, "$what: the pipelined one after it, "
       . 'intact');
}

# a body of up to 4096 bytes goes upstream as one new buffer of the
# edited bytes, a larger one as the client's buffers around the splices:
# byte for byte the same either side of the edge, whole, in pieces (a
# buffer each) or in a temp file

for my $len (4095, 4096, 4097) {
    my $tmpl = chat_tmpl($ROUTINE, 'x' x 4000);
    my $pad = $len - length(fill($tmpl, 'auto'));
    $tmpl = chat_tmpl($ROUTINE, 'x' x (4000 + $pad));

    my $body = fill($tmpl, 'auto');
    my $want = fill($tmpl, 'small-model');

    is(length $body, $len, "a body of $len bytes");

    for my $way (['/v1/', 1], ['/v1/', 4], ['/file/', 1]) {
        my ($uri, $n) = @$way;
        my $head = "POST ${uri}chat/completions HTTP/1.1\r\nHost: x\r\n"
            . "X-Mock-Echo: 1\r\nContent-Type: application/json\r\n"
            . "Connection: close\r\n"
            . "Content-Length: " . length($body) . "\r\n\r\n";
        my $step = int(length($body) / $n) + 1;
        my @pieces = ($head);
        push @pieces, substr($body, $_ * $step, $step) for 0 .. $n - 1;

        my $raw = $t->raw('', pieces => \@pieces, delay => 0.02,
                          timeout => 10);
        my @r = responses($raw);

        ok(@r && ($r[0]{body} // '') eq $want, "$len bytes to $uri in $n: "
           . 'the body as sent, its model replaced');
    }
}

# a body too large for malloc's heap (it maps its memory, and unmaps it
# when the request's pool goes), read into one buffer, then another
# request on the same connection: nginx looks at the header buffer after
# the first request is freed, which must be the connection's again

{
    my $tmpl = chat_tmpl($ROUTINE, 'x' x 300000);
    (my $uri = '/big/v1/chat/completions');
    my $body = fill($tmpl, 'auto');
    my $b2 = fill(chat_tmpl("Summarize: the cat sat on the mat."),
                  'mid-model');
    my $req = sub {
        my ($b, $last) = @_;
        return "POST $uri HTTP/1.1\r\nHost: x\r\nX-Mock-Echo: 1\r\n"
            . "Content-Type: application/json\r\n"
            . ($last ? "Connection: close\r\n" : '')
            . "Content-Length: " . length($b) . "\r\n\r\n" . $b;
    };

    my $first = $req->($body);
    my $raw = $t->raw('', pieces => [substr($first, 0, 900),
                                     substr($first, 900),
                                     $req->($b2, 1)],
                      delay => 0.1, timeout => 10);
    my @r = responses($raw);

    is(scalar @r, 2, 'a 300 KB body in one buffer, then a keep-alive '
       . 'request: two responses');
    ok(($r[0]{body} // '') eq fill($tmpl, 'small-model'),
       'a 300 KB body in one buffer: its model replaced');
    ok(($r[1]{body} // '') eq $b2, 'and the next request on the '
       . 'connection, intact');
    unlike($t->error_log, qr/exited on signal/, 'no worker died');

    # the same start, and the client gone before the rest: nothing is
    # routed, and the next connection is served

    $t->raw(substr($first, 0, 900), pieces => [substr($first, 0, 900),
                                               substr($first, 900, 5000)],
            delay => 0.1, timeout => 1, half_close => 1);

    my $r = $t->http('POST', '/big/v1/chat/completions',
                     body => fill(chat_tmpl($ROUTINE), 'auto'));
    is($r->{status}, 200, 'a body cut off by its client, then another '
       . 'connection: 200');
    unlike($t->error_log, qr/exited on signal/, 'and no worker died');
}

# HTTP/2

SKIP: {
    my $tmpl = chat_tmpl($ROUTINE);
    my $r = $t->http2('POST', '/v1/chat/completions', port => $t->port('h2'),
        body => fill($tmpl, 'auto'), headers => ['X-Mock-Echo' => 1]);
    skip "curl HTTP/2 failed (exit $r->{curl_exit})", 6
        if $r->{curl_exit};

    is($r->{status}, 200, 'HTTP/2: 200');
    is($r->{headers}{'x-tier-router-tier'}, 'small', 'HTTP/2: small');
    is($r->{headers}{'x-mock-name'}, 'small', 'HTTP/2: small upstream');
    ok($r->{body} eq fill($tmpl, 'small-model'),
        'HTTP/2: byte-identical but the model');

    my $pad = join ' ', ('lorem ipsum dolor sit amet') x 2600;
    my $big = chat_tmpl($ROUTINE, $pad);
    $r = $t->http2('POST', '/v1/chat/completions', port => $t->port('h2'),
        body => fill($big, 'auto'), headers => ['X-Mock-Echo' => 1]);
    is($r->{status}, 200, 'HTTP/2 big body: 200');
    my $tier = $r->{headers}{'x-tier-router-tier'} // 'small';
    ok($r->{body} eq fill($big, "$tier-model"),
        'HTTP/2 big body: byte-identical but the model');
}

# access control runs before the body is read: the client is refused at
# once although it has sent only part of a 100000-byte body

my $BODY_READ = join '|', 'http client request body preread',
    'http read client request body',
    'http request body content length filter', 'tier router: 4';
$BODY_READ = qr/$BODY_READ/;

for my $case (
    [ 'deny all', '/deny/v1/chat/completions', 403, [] ],
    [ 'auth_basic, no credentials', '/basic/v1/chat/completions', 401, [] ],
    [ 'auth_basic, wrong password', '/basic/v1/chat/completions', 401,
      [ Authorization => 'Basic ' . b64('alice:wrong') ] ],
    [ 'auth_request 403', '/authreq/v1/chat/completions', 403, [] ],
) {
    my ($name, $path, $status, $h) = @$case;

    my $part = '{"model":"auto","messages":[{"role":"user","content":"'
        . ('x' x 1000);

    $t->log_mark;
    my $r = $t->http('POST', $path, body => $part, content_length => 100000,
        timeout => 5, headers => ['Content-Type' => 'application/json', @$h]);
    sleep 0.1;
    my $log = $t->log_since;

    is($r->{status}, $status, "$name: $status");
    ok(defined $r->{first_byte} && $r->{first_byte} < 1,
        sprintf("$name: answered at once (%.3f s), without waiting for the"
            . " body", $r->{first_byte} // -1));
    ok(!$r->{headers}{'x-mock-name'}, "$name: not proxied");
    unlike($log, $BODY_READ, "$name: debug log shows no body read");

    # the same with Expect: 100-continue: refused, no 100 Continue needed
    $r = $t->http('POST', $path, body => $part, content_length => 100000,
        expect => 1, timeout => 5, headers => [@$h]);
    is($r->{status}, $status, "$name with Expect: $status");
}

# control: where access is allowed, the router waits for the whole body
# (so the timing check above can fail)

{
    my $part = '{"model":"auto","messages":[{"role":"user","content":"'
        . ('x' x 1000);
    my $r = $t->http('POST', '/v1/chat/completions', body => $part,
        content_length => 100000, timeout => 1.5);
    ok($r->{timeout} && !$r->{status},
        'control: a partial body on an open location gets no answer yet');
}

# positive controls: allowed requests are read and routed

{
    my $tmpl = chat_tmpl($ROUTINE);

    $t->log_mark;
    my $r = post('/authok/v1/chat/completions', fill($tmpl, 'auto'),
        'X-Mock-Echo' => 1);
    is($r->{status}, 200, 'auth_request 204: 200');
    ok($r->{body} eq fill($tmpl, 'small-model'), 'auth_request 204: routed');
    like($t->log_since,
        qr/http read client request body|http client request body preread/,
        'auth_request 204: the debug log shows the body read (the check'
        . ' above is meaningful)');

    $r = post('/basic/v1/chat/completions', fill($tmpl, 'auto'),
        'X-Mock-Echo' => 1, Authorization => 'Basic ' . b64('alice:secret'));
    is($r->{status}, 200, 'auth_basic good password: 200');
    ok($r->{body} eq fill($tmpl, 'small-model'), 'auth_basic: routed');
}

# errors: 400 and 413, dialect-shaped, each logged once

my $MSG = '[{"role":"user","content":"Translate \'hello\' into French."}]';
my $deep_ok = '{"model":"auto","messages":' . $MSG . ',"metadata":'
    . ('[' x 100) . (']' x 100) . '}';
my $deep_bad = '{"model":"auto","messages":' . $MSG . ',"metadata":'
    . ('[' x 10000) . (']' x 10000) . '}';
my $big40k = '{"model":"auto","messages":[{"role":"user","content":"'
    . ('word ' x 8200) . '"}]}';

my @errors = (
    # name, path, body, status
    [ 'malformed JSON', '{"model":"auto","messages":[', 400 ],
    [ 'trailing garbage', '{"model":"auto","messages":' . $MSG . '} x', 400 ],
    [ 'not an object', '[1,2,3]', 400 ],
    [ 'model is a number', '{"model":5,"messages":' . $MSG . '}', 400 ],
    [ 'messages is a string', '{"model":"auto","messages":"x"}', 400 ],
    [ 'stream is a string',
      '{"model":"auto","messages":' . $MSG . ',"stream":"yes"}', 400 ],
    [ 'max_tokens negative',
      '{"model":"auto","messages":' . $MSG . ',"max_tokens":-1}', 400 ],
    [ 'missing messages', '{"model":"auto"}', 400 ],
    [ 'duplicate model',
      '{"model":"auto","messages":' . $MSG . ',"model":"mid-model"}', 400 ],
    [ 'escaped duplicate model',
      '{"model":"auto","mod\\u0065l":"mid-model","messages":' . $MSG . '}',
      400 ],
    [ 'nesting 10000 deep', $deep_bad, 400 ],
    [ 'invalid UTF-8 in the prompt',
      '{"model":"auto","messages":[{"role":"user","content":"bad '
      . "\xff\xfe" . ' bytes"}]}', 400 ],
    [ 'invalid UTF-8 in an unread member',
      '{"model":"auto","messages":' . $MSG . ',"user":"' . "\xc3\x28"
      . '"}', 400 ],
    [ 'overlong UTF-8', '{"model":"auto","messages":[{"role":"user",'
      . '"content":"' . "\xc0\xaf" . '"}]}', 400 ],
    [ 'raw UTF-8 surrogate',
      '{"model":"auto","messages":[{"role":"user","content":"'
      . "\xed\xa0\x80" . '"}]}', 400 ],
    [ 'empty body', '', 400 ],
    [ 'body over tier_router_max_body_size', $big40k, 413, '/limit' ],
);

for my $case (@errors) {
    my ($name, $body, $status, $prefix) = @$case;
    $prefix //= '';

    for my $path ('/v1/chat/completions', '/v1/messages') {
        my $anthropic = $path =~ /messages/;
        my $b = $body;
        $b =~ s/^\{"model":"auto",/{"model":"auto","max_tokens":100,/
            if $anthropic && $status != 413 && $b !~ /max_tokens/;

        $t->log_mark;
        my $r = post($prefix . $path, $b);
        sleep 0.05;
        my @lines = grep { !/\[debug\]/ && /tier[ _]router/i }
            split /\n/, $t->log_since;
        my $d = $anthropic ? 'anthropic' : 'openai';

        is($r->{status}, $status, "$name ($d): $status");
        like($r->{headers}{'content-type'} // '', qr{^application/json},
            "$name ($d): JSON");
        ok(!$r->{headers}{'x-mock-name'}, "$name ($d): not proxied");

        if ($anthropic) {
            anthropic_error_ok($r, "$name ($d)",
                $status == 413 ? 'request_too_large' : 'invalid_request_error');
        } else {
            openai_error_ok($r, "$name ($d)");
            is($r->{json} && $r->{json}{error}{code}, 'request_too_large',
                "$name: OpenAI code request_too_large") if $status == 413;
        }

        is(scalar @lines, 1, "$name ($d): logged once")
            or diag(join "\n", @lines);
    }
}

# a body without Content-Length at all

{
    my $r = $t->http('POST', '/v1/chat/completions');
    is($r->{status}, 400, 'POST without a body: 400');
    openai_error_ok({ %$r, json => TierRouter::Test::json_decode(
        $r->{body}) }, 'POST without a body');
}

# limits: a chunked body over the limit, and bodies near it

{
    my @chunks = map { substr($big40k, $_ * 4096, 4096) }
        0 .. int(length($big40k) / 4096);
    my $r = $t->http('POST', '/limit/v1/chat/completions', chunks => \@chunks);
    is($r->{status}, 413, 'chunked body over the limit: 413');

    # refused by Content-Length: no "100 Continue" invites the body

    $r = $t->http('POST', '/limit/v1/chat/completions', expect => 1,
        body => $big40k, headers => ['Content-Type' => 'application/json']);
    is($r->{status}, 413, 'over the limit + 100-continue: 413');
    ok(!$r->{continue}, 'over the limit + 100-continue: no 100 Continue');

    my $fit = '{"model":"auto","messages":[{"role":"user","content":"'
        . ('word ' x 6000) . '"}]}';
    ok(length($fit) < 32 * 1024, 'a body under 32k');
    $r = post('/limit/v1/chat/completions', $fit);
    is($r->{status}, 200, 'a body under the limit: 200');
}

# accepted edge cases

{
    my $r = post('/v1/chat/completions', $deep_ok);
    is($r->{status}, 200, 'nesting 100 deep: 200');

    $r = post('/v1/chat/completions', '{"model":"auto","messages":[{"role":'
        . '"user","content":"\ud83d\ude00 \u00e9 caf' . "\xc3\xa9"
        . ' \u0000"}]}');
    is($r->{status}, 200, 'escapes, UTF-8 and \u0000 in a string: 200');

    $r = post('/v1/chat/completions', " \r\n\t" . '{"model":"auto",'
        . '"messages":' . $MSG . "} \n");
    is($r->{status}, 200, 'whitespace around the root: 200');

    $r = post('/v1/chat/completions', '{"messages":' . $MSG . ',"max_tokens":'
        . '100,"temperature":1e-3,"stream":false,"user":null}');
    is($r->{status}, 200, 'numbers, false, null: 200');
}

# no errors worse than [error] were logged

unlike($t->error_log, qr/\[(alert|crit|emerg)\]/,
    'no alert/crit/emerg in error.log');

done_testing;


sub b64 {
    require MIME::Base64;
    return MIME::Base64::encode_base64($_[0], '');
}
