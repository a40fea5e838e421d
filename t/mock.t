#!/usr/bin/perl

# Tests for the mock LLM server alone (t/mock/mock_llm.pl).

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use IO::Socket::INET;
use IO::Select;
use JSON::PP;
use Digest::SHA qw(sha1_hex);
use Time::HiRes qw(time sleep);

use TierRouter::Test;

my $t = TierRouter::Test->new(no_module => 1);
my $port = $t->mock('small');
my $J = JSON::PP->new->utf8->canonical;

sub post {
    my ($path, $body, @h) = @_;
    return $t->http('POST', $path, port => $port, body => $body,
        headers => ['Content-Type' => 'application/json', @h]);
}

sub words { scalar(() = $_[0] =~ /\S+/g) }

# health, 404

my $r = $t->http_get('/health', port => $port);
is($r->{status}, 200, 'health status');
is($r->{body}, 'ok', 'health body');
is($r->{headers}{'x-mock-name'}, 'small', 'health X-Mock-Name');

$r = post('/v1/audio/speech', '{"model":"m","input":"x"}');
is($r->{status}, 404, 'unknown endpoint 404');
ok(TierRouter::Test::json_decode($r->{body})->{error}{message},
    'unknown endpoint JSON error');

# the SDKs' other calls, in their APIs' shapes

$r = post('/v1/embeddings', '{"model":"m","input":"x"}');
is(TierRouter::Test::json_decode($r->{body})->{model}, 'm',
   'embeddings: 200, the model asked');
$r = post('/v1/messages/count_tokens', '{"model":"m","messages":[]}');
is(TierRouter::Test::json_decode($r->{body})->{input_tokens}, 12,
   'count_tokens: input_tokens');
$r = $t->http_get('/v1/models', port => $port);
is(TierRouter::Test::json_decode($r->{body})->{data}[0]{id}, 'small-model',
   'GET /v1/models: a list');
$r = $t->http_get('/v1/responses/resp_1', port => $port);
is(TierRouter::Test::json_decode($r->{body})->{id}, 'resp_1',
   'GET /v1/responses/ID: the response');

$r = post('/v1/chat/completions', '{"model":');
is($r->{status}, 400, 'bad JSON 400');

# non-streaming, every dialect

my %req = (
    '/v1/chat/completions' => { model => 'gpt-x', messages =>
        [{ role => 'user', content => "Translate 'hello' into French." }] },
    '/v1/responses' => { model => 'gpt-y',
        input => "Translate 'hello' into French." },
    '/v1/messages' => { model => 'claude-z', max_tokens => 100, messages =>
        [{ role => 'user', content => "Translate 'hello' into French." }] },
);

for my $path (sort keys %req) {
    my $body = $J->encode($req{$path});
    my $in = int(length($body) / 4);

    $r = post($path, $body);
    is($r->{status}, 200, "$path status");
    is($r->{headers}{'x-mock-name'}, 'small', "$path X-Mock-Name");
    like($r->{headers}{'content-type'}, qr{^application/json},
        "$path content type");

    my $d = TierRouter::Test::json_decode($r->{body});
    ok($d, "$path JSON answer") or next;
    is($d->{model}, $req{$path}{model}, "$path model");

    if ($path =~ /chat/) {
        my $text = $d->{choices}[0]{message}{content};
        is($d->{object}, 'chat.completion', 'chat object');
        is($d->{usage}{prompt_tokens}, $in, 'chat prompt_tokens');
        is($d->{usage}{completion_tokens}, words($text),
            'chat completion_tokens = words');
        is($d->{usage}{total_tokens}, $in + words($text), 'chat total');

    } elsif ($path =~ /responses/) {
        my $text = $d->{output}[0]{content}[0]{text};
        is($d->{object}, 'response', 'responses object');
        is($d->{status}, 'completed', 'responses status');
        is($d->{usage}{input_tokens}, $in, 'responses input_tokens');
        is($d->{usage}{output_tokens}, words($text), 'responses output');
        is($d->{usage}{total_tokens}, $in + words($text), 'responses total');

    } else {
        my $text = $d->{content}[0]{text};
        is($d->{type}, 'message', 'anthropic type');
        is($d->{stop_reason}, 'end_turn', 'anthropic stop_reason');
        is($d->{usage}{input_tokens}, $in, 'anthropic input_tokens');
        is($d->{usage}{output_tokens}, words($text), 'anthropic output');
    }
}

# X-Mock-Words

$r = post('/v1/chat/completions', '{"model":"m","messages":[]}',
    'X-Mock-Words' => 25);
is(TierRouter::Test::json_decode($r->{body})->{usage}{completion_tokens},
    25, 'X-Mock-Words');

# streaming: OpenAI chat, with and without include_usage

for my $inc (0, 1) {
    my $q = { model => 'gpt-s', stream => JSON::PP::true, messages =>
        [{ role => 'user', content => 'hi there' }] };
    $q->{stream_options} = { include_usage => JSON::PP::true } if $inc;
    my $body = $J->encode($q);

    $r = post('/v1/chat/completions', $body);
    is($r->{status}, 200, "chat stream status (usage $inc)");
    like($r->{headers}{'content-type'}, qr{^text/event-stream},
        'chat stream content type');
    ok($r->{complete}, 'chat stream chunked terminator');

    my @ev = TierRouter::Test::parse_sse($r->{body});
    is($ev[-1]{data}, '[DONE]', 'chat stream ends with [DONE]');
    ok(!grep({ defined $_->{event} } @ev), 'chat stream has no event:');

    my @chunks = map { $_->{json} } @ev[0 .. $#ev - 1];
    is(scalar(grep { !$_ } @chunks), 0, 'chat chunks are JSON');
    is(scalar(grep { $_->{object} ne 'chat.completion.chunk' } @chunks), 0,
        'chat chunk objects');
    is(scalar(grep { $_->{model} ne 'gpt-s' } @chunks), 0, 'chunk model');
    is($chunks[0]{choices}[0]{delta}{role}, 'assistant', 'first delta role');

    my $text = join '', map { $_->{choices}[0]{delta}{content} // '' }
        grep { @{$_->{choices}} } @chunks;
    is($text, 'This is a mock answer from the small tier.', 'chat text');

    my @fin = grep { @{$_->{choices}}
        && ($_->{choices}[0]{finish_reason} // '') eq 'stop' } @chunks;
    is(scalar @fin, 1, 'one finish_reason stop');

    my @usage = grep { $_->{usage} } @chunks;

    if ($inc) {
        is(scalar @usage, 1, 'one usage chunk');
        is_deeply($usage[0]{choices}, [], 'usage chunk has no choices');
        is($usage[0]{usage}{prompt_tokens}, int(length($body) / 4),
            'stream prompt_tokens');
        is($usage[0]{usage}{completion_tokens}, 9, 'stream completion');
        is($usage[0]{usage}{total_tokens}, int(length($body) / 4) + 9,
            'stream total');
        is($chunks[-1], $usage[0], 'usage chunk is last before [DONE]');
    } else {
        is(scalar @usage, 0, 'no usage without include_usage');
    }
}

# streaming: OpenAI responses

{
    my $body = '{"model":"gpt-r","input":"hi","stream":true}';
    $r = post('/v1/responses', $body);
    is($r->{status}, 200, 'responses stream status');

    my @ev = TierRouter::Test::parse_sse($r->{body});
    is($ev[0]{event}, 'response.created', 'responses first event');
    is($ev[-1]{event}, 'response.completed', 'responses last event');
    is(scalar(grep { !defined $_->{event} || !$_->{json}
        || $_->{json}{type} ne $_->{event} } @ev), 0,
        'every event has event: matching its type');

    my $text = join '', map { $_->{json}{delta} }
        grep { $_->{event} eq 'response.output_text.delta' } @ev;
    is($text, 'This is a mock answer from the small tier.',
        'responses delta text');

    my $u = $ev[-1]{json}{response}{usage};
    is($u->{input_tokens}, int(length($body) / 4), 'responses input');
    is($u->{output_tokens}, 9, 'responses output');
    is($u->{total_tokens}, int(length($body) / 4) + 9, 'responses total');
    is($ev[-1]{json}{response}{model}, 'gpt-r', 'responses model');
    is_deeply([ map { $_->{json}{sequence_number} } @ev ], [ 0 .. $#ev ],
        'sequence numbers');
}

# streaming: Anthropic messages

{
    my $body = '{"model":"claude-s","max_tokens":10,"stream":true,'
        . '"messages":[{"role":"user","content":"hi"}]}';
    $r = post('/v1/messages', $body);
    is($r->{status}, 200, 'anthropic stream status');

    my @ev = TierRouter::Test::parse_sse($r->{body});
    my @names = map { $_->{event} } @ev;
    is($names[0], 'message_start', 'anthropic message_start');
    is($names[1], 'content_block_start', 'anthropic content_block_start');
    is($names[-1], 'message_stop', 'anthropic message_stop');
    is($names[-2], 'message_delta', 'anthropic message_delta');
    is($names[-3], 'content_block_stop', 'anthropic content_block_stop');
    is(scalar(grep { !$_->{json} || $_->{json}{type} ne $_->{event} } @ev),
        0, 'event names match types');

    is($ev[0]{json}{message}{model}, 'claude-s', 'anthropic model');
    is($ev[0]{json}{message}{usage}{input_tokens}, int(length($body) / 4),
        'anthropic input_tokens in message_start');
    is($ev[-2]{json}{usage}{output_tokens}, 9,
        'anthropic output_tokens in message_delta');

    my $text = join '', map { $_->{json}{delta}{text} }
        grep { $_->{event} eq 'content_block_delta' } @ev;
    is($text, 'This is a mock answer from the small tier.',
        'anthropic delta text');
}

# streaming to an HTTP/1.0 client: no chunked encoding, close

$r = $t->http('POST', '/v1/chat/completions', port => $port, http10 => 1,
    body => '{"model":"m","stream":true,"messages":[]}');
is($r->{status}, 200, 'HTTP/1.0 stream');
ok(!$r->{headers}{'transfer-encoding'}, 'HTTP/1.0 stream not chunked');
like($r->{body}, qr/data: \[DONE\]\n\n\z/, 'HTTP/1.0 stream complete');

# X-Mock-Status in each dialect's shape

for my $status (429, 500, 503) {
    $r = post('/v1/chat/completions', '{"model":"m","messages":[]}',
        'X-Mock-Status' => $status);
    is($r->{status}, $status, "chat $status");
    my $d = TierRouter::Test::json_decode($r->{body});
    ok($d && $d->{error}{message} && $d->{error}{type}
        && exists $d->{error}{param} && exists $d->{error}{code},
        "chat $status OpenAI error shape");

    $r = post('/v1/responses', '{"model":"m","input":"x"}',
        'X-Mock-Status' => $status);
    is($r->{status}, $status, "responses $status");
    $d = TierRouter::Test::json_decode($r->{body});
    ok($d && $d->{error}{message}, "responses $status OpenAI error shape");

    $r = post('/v1/messages', '{"model":"m","messages":[]}',
        'X-Mock-Status' => $status);
    is($r->{status}, $status, "messages $status");
    $d = TierRouter::Test::json_decode($r->{body});
    ok($d && $d->{type} eq 'error' && $d->{error}{type}
        && $d->{error}{message}, "messages $status Anthropic error shape");
}

is(post('/v1/chat/completions', '{}', 'X-Mock-Status' => 429)
    ->{headers}{'retry-after'}, 1, '429 Retry-After');

is(TierRouter::Test::json_decode(post('/v1/messages', '{}',
    'X-Mock-Status' => 429)->{body})->{error}{type}, 'rate_limit_error',
    'anthropic 429 rate_limit_error');

# X-Mock-Latency-Ms

{
    my $t0 = time;
    $r = post('/v1/chat/completions', '{"model":"m","messages":[]}',
        'X-Mock-Latency-Ms' => 300);
    my $el = time - $t0;
    is($r->{status}, 200, 'latency status');
    ok($el >= 0.3 && $el < 2, "latency respected ($el s)");
}

# X-Mock-Break-After

for my $case (
    ['/v1/chat/completions', '{"model":"m","stream":true,"messages":[]}'],
    ['/v1/responses', '{"model":"m","stream":true,"input":"x"}'],
    ['/v1/messages', '{"model":"m","stream":true,"messages":[]}'],
) {
    $r = post(@$case, 'X-Mock-Break-After' => 3);
    is($r->{status}, 200, "$case->[0] break status");
    ok(!$r->{complete}, "$case->[0] break: no chunked terminator");
    my @ev = TierRouter::Test::parse_sse($r->{body});
    is(scalar @ev, 3, "$case->[0] break after 3 events");
    unlike($r->{body}, qr/\[DONE\]|message_stop|response\.completed/,
        "$case->[0] break: no final event");
}

$r = post('/v1/chat/completions', '{"model":"m","messages":[]}',
    'X-Mock-Break-After' => 10);
is(length $r->{body}, 10, 'non-stream break: 10 bytes of the body');
ok(!$r->{complete}, 'non-stream break: body short of Content-Length');

# X-Mock-Echo: exact bytes, including invalid UTF-8 and NULs

for my $body ('{"model":"auto", "x" : [1,2]}',
    "{\"a\":\"\xff\xfe\x00 caf\xc3\xa9\"}\n\t ", '', 'x' x 70000)
{
    $r = post('/v1/chat/completions', $body, 'X-Mock-Echo' => 1);
    is($r->{status}, 200, 'echo status');
    is($r->{headers}{'content-type'}, 'application/json', 'echo type');
    ok($r->{body} eq $body, 'echo body identical (' . length($body) . ')');
    is($r->{headers}{'x-mock-request-length'}, length $body, 'echo length');
    is($r->{headers}{'x-mock-request-sha1'}, sha1_hex($body), 'echo sha1');
    is($r->{headers}{'x-mock-request-content-length'}, length $body,
        'echo Content-Length header');
}

$r = post('/anything/at/all', 'not json', 'X-Mock-Echo' => 1);
is($r->{body}, 'not json', 'echo on any path');

# chunked request body, echoed

{
    my @chunks = ('{"model":', '"auto","messages"', ':[]}');
    $r = $t->http('POST', '/v1/chat/completions', port => $port,
        chunks => \@chunks, chunk_delay => 0.05,
        headers => ['X-Mock-Echo' => 1]);
    is($r->{body}, join('', @chunks), 'chunked body echoed');
    is($r->{headers}{'x-mock-request-content-length'}, 'chunked',
        'chunked noted');

    $r = $t->http('POST', '/v1/chat/completions', port => $port,
        chunks => \@chunks);
    is(TierRouter::Test::json_decode($r->{body})->{model}, 'auto',
        'chunked body parsed');
}

# Expect: 100-continue

$r = $t->http('POST', '/v1/chat/completions', port => $port, expect => 1,
    body => '{"model":"e","messages":[]}');
ok($r->{continue}, '100 Continue sent');
is($r->{status}, 200, 'status after 100 Continue');
is(TierRouter::Test::json_decode($r->{body})->{model}, 'e',
    'body after 100 Continue');

# keep-alive: HTTP/1.1 pipelined, HTTP/1.0 with keep-alive

{
    my $b = '{"model":"k1","messages":[]}';
    my $req = "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
        . "Content-Length: " . length($b) . "\r\n\r\n$b";
    my $last = "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";

    my $raw = $t->raw($req . $req . $last, port => $port, timeout => 5);
    my @st = $raw =~ m{HTTP/1\.1 (\d{3}) }g;
    is_deeply(\@st, [200, 200, 200], 'HTTP/1.1 keep-alive, 3 requests');

    my $r10 = "GET /health HTTP/1.0\r\nConnection: keep-alive\r\n\r\n";
    $raw = $t->raw($r10 . "GET /health HTTP/1.0\r\n\r\n", port => $port,
        timeout => 5);
    @st = $raw =~ m{HTTP/1\.0 (\d{3}) }g;
    is_deeply(\@st, [200, 200], 'HTTP/1.0 keep-alive');
    like($raw, qr/Connection: keep-alive/i, 'HTTP/1.0 keep-alive header');

    # a request line split over two writes
    $raw = $t->raw('', port => $port, timeout => 5, delay => 0.05,
        pieces => ["GET /hea", "lth HTTP/1.1\r\nHost: x\r\n",
                   "Connection: close\r\n\r\n"]);
    like($raw, qr{^HTTP/1\.1 200}, 'request in pieces');
}

# hundreds of sequential requests

{
    my $t0 = time;
    my $ok = 0;

    for (1 .. 300) {
        my $x = post('/v1/chat/completions', '{"model":"m","messages":[]}');
        $ok++ if $x->{status} == 200;
    }

    my $el = time - $t0;
    is($ok, 300, '300 sequential requests');
    ok($el < 15, sprintf('300 requests in %.2f s', $el));
}

# concurrency: 20 clients each waiting 300 ms at once

{
    my @s;
    my $req = "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
        . "X-Mock-Latency-Ms: 300\r\nConnection: close\r\n"
        . "Content-Length: 28\r\n\r\n" . '{"model":"c","messages":[] }';

    my $t0 = time;

    for (1 .. 20) {
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
            PeerPort => $port) or next;
        syswrite($s, $req);
        push @s, $s;
    }

    my $ok = 0;

    for my $s (@s) {
        my $data = '';
        my $sel = IO::Select->new($s);
        while ($sel->can_read(5)) {
            last unless sysread($s, $data, 65536, length $data);
        }
        $ok++ if $data =~ m{^HTTP/1\.1 200};
    }

    my $el = time - $t0;
    is($ok, 20, '20 concurrent requests');
    ok($el < 2.5, sprintf('concurrent requests overlap (%.2f s)', $el));
}

# usage controls: X-Mock-Input-Tokens, -Output-Tokens, -Cached-Tokens,
# -Reasoning-Tokens, X-Mock-Usage, in every dialect, JSON and streaming

my %ureq = (
    chat => ['/v1/chat/completions', { model => 'u', messages => [] }],
    responses => ['/v1/responses', { model => 'u', input => 'x' }],
    anthropic => ['/v1/messages', { model => 'u', max_tokens => 9,
        messages => [] }],
);

# usage_of($dialect, $stream, @headers): the response, its usage as the
# client sees it (for a stream: the chat usage chunk, the responses
# response.completed usage, Anthropic's message_start usage and
# message_delta usage as [start, delta]), the answer's text and the events

sub usage_of {
    my ($d, $stream, @h) = @_;

    my ($path, $q) = @{$ureq{$d}};
    $q = { %$q };

    if ($stream) {
        $q->{stream} = JSON::PP::true;
        $q->{stream_options} = { include_usage => JSON::PP::true }
            if $d eq 'chat';
    }

    my $body = $J->encode($q);
    my $r = post($path, $body, @h);

    unless ($stream) {
        my $j = TierRouter::Test::json_decode($r->{body}) || {};
        my $text = $d eq 'chat' ? $j->{choices}[0]{message}{content}
            : $d eq 'responses' ? $j->{output}[0]{content}[0]{text}
            : $j->{content}[0]{text};
        return ($r, $j->{usage}, $text, [], $j, $body);
    }

    my @ev = TierRouter::Test::parse_sse($r->{body});
    my ($u, $text);

    if ($d eq 'chat') {
        ($u) = map { $_->{json}{usage} } grep { $_->{json}
            && $_->{json}{usage} } @ev;
        $text = join '', map { $_->{choices}[0]{delta}{content} // '' }
            grep { $_ && @{$_->{choices}} } map { $_->{json} } @ev;
    } elsif ($d eq 'responses') {
        my ($c) = grep { ($_->{event} // '') eq 'response.completed' } @ev;
        $u = $c && $c->{json}{response}{usage};
        $text = join '', map { $_->{json}{delta} }
            grep { ($_->{event} // '') eq 'response.output_text.delta' } @ev;
    } else {
        my ($s) = grep { ($_->{event} // '') eq 'message_start' } @ev;
        my ($m) = grep { ($_->{event} // '') eq 'message_delta' } @ev;
        $u = [ $s && $s->{json}{message}{usage}, $m && $m->{json}{usage} ];
        $text = join '', map { $_->{json}{delta}{text} }
            grep { ($_->{event} // '') eq 'content_block_delta' } @ev;
    }

    return ($r, $u, $text, \@ev, undef, $body);
}

for my $stream (0, 1) {
    my $s = $stream ? 'stream' : 'JSON';

    # given input and output counts

    my @h = ('X-Mock-Input-Tokens' => 1234, 'X-Mock-Output-Tokens' => 56);

    my ($r, $u) = usage_of('chat', $stream, @h);
    is_deeply($u, { prompt_tokens => 1234, completion_tokens => 56,
        total_tokens => 1290 }, "chat $s: given input and output tokens");

    ($r, $u) = usage_of('responses', $stream, @h);
    is_deeply($u, { input_tokens => 1234, output_tokens => 56,
        total_tokens => 1290 }, "responses $s: given input and output");

    ($r, $u) = usage_of('anthropic', $stream, @h);
    is_deeply($u, $stream
        ? [{ input_tokens => 1234, output_tokens => 1 },
           { output_tokens => 56 }]
        : { input_tokens => 1234, output_tokens => 56 },
        "anthropic $s: given input and output");

    # zero is a count too; a bad value is ignored

    ($r, $u, my $text, my $ev, my $j, my $body) = usage_of('chat', $stream,
        'X-Mock-Input-Tokens' => 0, 'X-Mock-Output-Tokens' => 'many');
    is_deeply($u, { prompt_tokens => 0, completion_tokens => 9,
        total_tokens => 9 }, "chat $s: 0 input tokens, bad output ignored");

    # cached tokens

    @h = ('X-Mock-Input-Tokens' => 1234, 'X-Mock-Cached-Tokens' => 1000);

    ($r, $u) = usage_of('chat', $stream, @h);
    is_deeply($u, { prompt_tokens => 1234, completion_tokens => 9,
        total_tokens => 1243,
        prompt_tokens_details => { cached_tokens => 1000 } },
        "chat $s: cached tokens");

    ($r, $u) = usage_of('responses', $stream, @h);
    is_deeply($u, { input_tokens => 1234, output_tokens => 9,
        total_tokens => 1243,
        input_tokens_details => { cached_tokens => 1000 } },
        "responses $s: cached tokens");

    ($r, $u) = usage_of('anthropic', $stream, @h);
    is_deeply($u, $stream
        ? [{ input_tokens => 234, cache_read_input_tokens => 1000,
             output_tokens => 1 }, { output_tokens => 9 }]
        : { input_tokens => 234, cache_read_input_tokens => 1000,
            output_tokens => 9 },
        "anthropic $s: cache reads apart from input_tokens");

    ($r, $u) = usage_of('anthropic', $stream, 'X-Mock-Input-Tokens' => 10,
        'X-Mock-Cached-Tokens' => 50);
    is_deeply($stream ? $u->[0] : $u, { input_tokens => 0,
        cache_read_input_tokens => 50, output_tokens => $stream ? 1 : 9 },
        "anthropic $s: input_tokens floored at 0");

    # computed input with cached tokens: OpenAI keeps the total

    ($r, $u, $text, $ev, $j, $body) = usage_of('chat', $stream,
        'X-Mock-Cached-Tokens' => 0);
    is_deeply($u, { prompt_tokens => int(length($body) / 4),
        completion_tokens => 9, total_tokens => int(length($body) / 4) + 9,
        prompt_tokens_details => { cached_tokens => 0 } },
        "chat $s: 0 cached tokens, computed input");

    # reasoning tokens: part of the output

    ($r, $u) = usage_of('chat', $stream, 'X-Mock-Input-Tokens' => 100,
        'X-Mock-Reasoning-Tokens' => 7);
    is_deeply($u, { prompt_tokens => 100, completion_tokens => 16,
        total_tokens => 116,
        completion_tokens_details => { reasoning_tokens => 7 } },
        "chat $s: reasoning tokens added to the words");

    ($r, $u) = usage_of('chat', $stream, 'X-Mock-Input-Tokens' => 100,
        'X-Mock-Output-Tokens' => 30, 'X-Mock-Reasoning-Tokens' => 7);
    is_deeply($u, { prompt_tokens => 100, completion_tokens => 30,
        total_tokens => 130,
        completion_tokens_details => { reasoning_tokens => 7 } },
        "chat $s: given output tokens include reasoning");

    ($r, $u) = usage_of('responses', $stream, 'X-Mock-Input-Tokens' => 100,
        'X-Mock-Reasoning-Tokens' => 7, 'X-Mock-Cached-Tokens' => 60);
    is_deeply($u, { input_tokens => 100, output_tokens => 16,
        total_tokens => 116,
        input_tokens_details => { cached_tokens => 60 },
        output_tokens_details => { reasoning_tokens => 7 } },
        "responses $s: reasoning and cached tokens");

    ($r, $u) = usage_of('responses', $stream, 'X-Mock-Input-Tokens' => 100,
        'X-Mock-Output-Tokens' => 30, 'X-Mock-Reasoning-Tokens' => 7);
    is_deeply($u, { input_tokens => 100, output_tokens => 30,
        total_tokens => 130,
        output_tokens_details => { reasoning_tokens => 7 } },
        "responses $s: given output tokens include reasoning");

    ($r, $u) = usage_of('anthropic', $stream, 'X-Mock-Input-Tokens' => 100,
        'X-Mock-Reasoning-Tokens' => 7);
    is_deeply($u, $stream
        ? [{ input_tokens => 100, output_tokens => 1 },
           { output_tokens => 9 }]
        : { input_tokens => 100, output_tokens => 9 },
        "anthropic $s: reasoning tokens ignored");

    # the answer is the same whatever the counts

    ($r, $u, $text) = usage_of('chat', $stream, 'X-Mock-Output-Tokens' => 3);
    is($text, 'This is a mock answer from the small tier.',
        "chat $s: text independent of X-Mock-Output-Tokens");

    # X-Mock-Usage: none

    for my $d (qw(chat responses anthropic)) {
        ($r, $u, $text, $ev, $j) = usage_of($d, $stream,
            'X-Mock-Usage' => 'none', 'X-Mock-Cached-Tokens' => 5,
            'X-Mock-Reasoning-Tokens' => 5);
        is($r->{status}, 200, "$d $s no usage: status");
        is($text, 'This is a mock answer from the small tier.',
            "$d $s no usage: text");
        like($r->{body}, qr/\S/, "$d $s no usage: body");
        unlike($r->{body}, qr/usage|_tokens/,
            "$d $s no usage: no usage and no token count anywhere");

        if ($stream) {
            ok($r->{complete}, "$d $s no usage: complete");
            like($ev->[-1]{event} // $ev->[-1]{data},
                qr/^(?:\[DONE\]|response\.completed|message_stop)$/,
                "$d $s no usage: final event");
        } else {
            ok($j && !exists $j->{usage}, "$d $s no usage: no usage key");
        }
    }
}

($r) = usage_of('chat', 1, 'X-Mock-Usage' => 'NONE');
unlike($r->{body}, qr/usage/, 'X-Mock-Usage: NONE');
(undef, my $u) = usage_of('chat', 0, 'X-Mock-Usage' => 'all');
ok($u && $u->{total_tokens}, 'X-Mock-Usage other than none: usage');

# X-Mock-Split

# the sizes of the chunks in a raw chunked response

sub chunk_sizes {
    my ($raw) = @_;
    my $rest = substr($raw, index($raw, "\r\n\r\n") + 4);
    my @n;
    while ($rest =~ s/^([0-9a-fA-F]+)\r\n//) {
        my $n = hex $1;
        push @n, $n;
        last if $n == 0 || length $rest < $n + 2;
        substr($rest, 0, $n + 2, '');
    }
    return @n;
}

for my $d (qw(chat responses anthropic)) {
    # JSON: Content-Length framing, the same answer

    my ($r0, $u0, $t0, $e0, $j0) = usage_of($d, 0,
        'X-Mock-Input-Tokens' => 77, 'X-Mock-Cached-Tokens' => 7);
    my $start = time;
    my ($r, $u, $text, $ev, $j) = usage_of($d, 0, 'X-Mock-Split' => 16,
        'X-Mock-Input-Tokens' => 77, 'X-Mock-Cached-Tokens' => 7);
    my $el = time - $start;
    my $len = length $r->{body};

    is($r->{status}, 200, "$d split JSON: status");
    ok($r->{complete}, "$d split JSON: complete");
    is($r->{headers}{'content-length'}, $len,
        "$d split JSON: Content-Length");
    ok(!$r->{trailing}, "$d split JSON: nothing after the body");
    is($text, $t0, "$d split JSON: text");
    is_deeply($u, $u0, "$d split JSON: usage");
    ok($len > 16 * 10, "$d split JSON: body in more than 10 pieces ($len)");
    ok($el >= 0.002 * (int(($len + 15) / 16) - 1),
        sprintf("$d split JSON: pieces paced (%.3f s)", $el));

    # streaming, chunked: every chunk at most N bytes

    ($r0, $u0, $t0, $e0) = usage_of($d, 1, 'X-Mock-Input-Tokens' => 77);
    ($r, $u, $text, $ev) = usage_of($d, 1, 'X-Mock-Split' => 24,
        'X-Mock-Input-Tokens' => 77);

    is($r->{status}, 200, "$d split stream: status");
    ok($r->{complete}, "$d split stream: chunked terminator");
    is($text, $t0, "$d split stream: text");
    is_deeply($u, $u0, "$d split stream: usage");
    is_deeply([ map { $_->{event} // '' } @$ev ],
        [ map { $_->{event} // '' } @$e0 ], "$d split stream: events");
    is(scalar(grep { !$_->{json} && $_->{data} ne '[DONE]' } @$ev), 0,
        "$d split stream: every event parses");

    my @n = chunk_sizes($r->{raw});
    is($n[-1], 0, "$d split stream: last chunk");
    is(scalar(grep { $_ > 24 || $_ == 0 } @n[0 .. $#n - 1]), 0,
        "$d split stream: chunks of at most 24 bytes");
    ok(@n > 2 * @$ev, "$d split stream: " . scalar(@n) . " chunks for "
        . scalar(@$ev) . " events");
}

# split 1: one byte at a time

{
    $r = post('/v1/messages', '{"model":"m","messages":[]}',
        'X-Mock-Split' => 1, 'X-Mock-Words' => 1);
    ok($r->{complete}, 'split 1 JSON: complete');
    is(TierRouter::Test::json_decode($r->{body})->{content}[0]{text},
        'This', 'split 1 JSON: parses');

    my $body = '{"model":"m","stream":true,"messages":[]}';
    $r = post('/v1/chat/completions', $body, 'X-Mock-Split' => 1,
        'X-Mock-Break-After' => 1);
    my @n = chunk_sizes($r->{raw});
    is_deeply(\@n, [ (1) x length $r->{body} ], 'split 1: one-byte chunks');
    is(scalar(grep { $_->{json} } TierRouter::Test::parse_sse($r->{body})),
        1, 'split 1: the event parses');

    # bad or zero values change nothing

    for my $v (0, 'x') {
        $r = post('/v1/chat/completions', $body, 'X-Mock-Split' => $v);
        @n = chunk_sizes($r->{raw});
        my @ev = TierRouter::Test::parse_sse($r->{body});
        is(scalar @n, scalar(@ev) + 1, "split '$v': one chunk per event");
    }
}

# split over HTTP/1.0: no chunks, read to close

$r = $t->http('POST', '/v1/messages', port => $port, http10 => 1,
    headers => ['X-Mock-Split' => 16],
    body => '{"model":"m","stream":true,"messages":[]}');
is($r->{status}, 200, 'HTTP/1.0 split stream');
ok(!$r->{headers}{'transfer-encoding'}, 'HTTP/1.0 split stream not chunked');
like($r->{body}, qr/^event: message_start\n.*event: message_stop\ndata: \{.*\}\n\n\z/s,
    'HTTP/1.0 split stream complete');

# split with X-Mock-Break-After

for my $case (
    ['/v1/chat/completions', '{"model":"m","stream":true,"messages":[]}'],
    ['/v1/responses', '{"model":"m","stream":true,"input":"x"}'],
    ['/v1/messages', '{"model":"m","stream":true,"messages":[]}'],
) {
    $r = post(@$case, 'X-Mock-Break-After' => 3, 'X-Mock-Split' => 16);
    is($r->{status}, 200, "$case->[0] split break status");
    ok(!$r->{complete}, "$case->[0] split break: no chunked terminator");
    my @ev = TierRouter::Test::parse_sse($r->{body});
    is(scalar @ev, 3, "$case->[0] split break after 3 events");
    is(scalar(grep { !$_->{json} } @ev), 0,
        "$case->[0] split break: the 3 events whole");
    is(scalar(grep { $_ > 16 } chunk_sizes($r->{raw})), 0,
        "$case->[0] split break: chunks of at most 16 bytes");
}

$r = post('/v1/chat/completions', '{"model":"m","messages":[]}',
    'X-Mock-Break-After' => 10, 'X-Mock-Split' => 3);
is(length $r->{body}, 10, 'split non-stream break: 10 bytes of the body');
ok(!$r->{complete}, 'split non-stream break: body short of Content-Length');

# split on keep-alive: the framing holds for the next response

{
    my $jb = '{"model":"k1","messages":[]}';
    my $sb = '{"model":"k2","stream":true,"messages":[]}';
    my $req = sub {
        my ($b, $more) = @_;
        return "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
            . "X-Mock-Split: 32\r\n$more"
            . "Content-Length: " . length($b) . "\r\n\r\n$b";
    };

    my $raw = $t->raw($req->($jb, '') . $req->($sb, '')
        . $req->($jb, "Connection: close\r\n"), port => $port, timeout => 10);

    my @r;
    while (length $raw) {
        my $x = TierRouter::Test::parse_response($raw);
        last unless $x->{status} && $x->{complete};
        push @r, $x;
        if (defined $x->{trailing}) {
            $raw = $x->{trailing};
        } elsif (($x->{headers}{'transfer-encoding'} // '') =~ /chunked/) {
            $raw =~ s/^.*?\r\n0\r\n\r\n//s;
        } else {
            last;
        }
    }

    is(scalar @r, 3, 'split keep-alive: 3 whole responses');
    is(TierRouter::Test::json_decode($r[0]{body})->{model}, 'k1',
        'split keep-alive: first JSON');
    is((TierRouter::Test::parse_sse($r[1]{body}))[-1]{data}, '[DONE]',
        'split keep-alive: stream');
    is(TierRouter::Test::json_decode($r[2]{body} // '')->{model}, 'k1',
        'split keep-alive: JSON after the stream');
}

# split on errors

$r = post('/v1/messages', '{}', 'X-Mock-Status' => 529, 'X-Mock-Split' => 8);
is($r->{status}, 529, 'split error status');
ok($r->{complete}, 'split error complete');
is(TierRouter::Test::json_decode($r->{body})->{type}, 'error',
    'split error body');

# --count-file and --files, on a mock of their own

my $dir = $t->testdir;
my $count = "$dir/count.txt";
mkdir "$dir/files";
mkdir "$dir/files/sub";
$t->write_file('files/prices.json', '{"gpt-x":{"input":1}}');
$t->write_file('files/messages', '{"not":"a model"}');
$t->write_file('files/sub/x.json', '{}');
$t->write_file('files/..x', '"dots"');

my $cport = $t->mock('counted',
    args => ['--count-file', $count, '--files', "$dir/files"]);

sub cpost {
    my ($path, $body, @h) = @_;
    return $t->http('POST', $path, port => $cport, body => $body,
        headers => ['Content-Type' => 'application/json', @h]);
}

sub counted {
    my @l = split /(?<=\n)/, $t->read_file($count);
    unlink $count;
    return @l;
}

{
    ok(!-e $count, 'count file not made before a request');

    $t->http_get('/health', port => $cport);
    cpost('/v1/embeddings', '{"model":"m"}');
    $t->http_get('/files/messages', port => $cport);
    $t->http_get('/files/prices.json', port => $cport,
        headers => ['X-Mock-Status' => 500]);
    ok(!-e $count, 'no count for health, unknown paths, files');

    cpost('/v1/chat/completions', '{"model":"m","messages":[]}');
    cpost('/v1/chat/completions', '{"model":"m","stream":true,'
        . '"messages":[]}');
    cpost('/v1/chat/completions', '{"model":"m","stream":true,'
        . '"stream_options":{"include_usage":true},"messages":[]}');
    cpost('/v1/chat/completions', '{"model":"m","stream":true,'
        . '"stream_options":{"include_usage":false},"messages":[]}');
    cpost('/v1/chat/completions', '{"model":"m","stream":false,'
        . '"stream_options":{},"messages":[]}');
    cpost('/v1/responses?x=1', '{"model":"m","stream":true,"input":"x"}');
    cpost('/v1/messages', '{"model":"m","messages":[]}',
        'X-Mock-Usage' => 'none');
    cpost('/openai/v1/chat/completions', '{"model":"m","messages":[]}',
        'X-Mock-Status' => 429);
    cpost('/v1/messages', '{"model":', 'X-Mock-Latency-Ms' => 10);
    cpost('/v1/messages', '{"model":"m","stream":true}',
        'X-Mock-Echo' => 1);
    $t->http_get('/v1/responses', port => $cport);

    is_deeply([ counted() ], [
        "counted /v1/chat/completions 0 absent\n",
        "counted /v1/chat/completions 1 absent\n",
        "counted /v1/chat/completions 1 1\n",
        "counted /v1/chat/completions 1 0\n",
        "counted /v1/chat/completions 0 absent\n",
        "counted /v1/responses 1 absent\n",
        "counted /v1/messages 0 absent\n",
        "counted /openai/v1/chat/completions 0 absent\n",
        "counted /v1/messages 0 absent\n",
        "counted /v1/messages 1 absent\n",
        "counted /v1/responses 0 absent\n",
    ], 'count file lines');

    # concurrent requests: whole lines

    my @s;
    for my $i (1 .. 20) {
        my $b = $i % 2 ? '{"model":"c","messages":[]}'
            : '{"model":"c","stream":true,"stream_options":'
              . '{"include_usage":true},"messages":[]}';
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
            PeerPort => $cport) or next;
        syswrite($s, "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
            . "Connection: close\r\nContent-Length: " . length($b)
            . "\r\n\r\n$b");
        push @s, $s;
    }

    for my $s (@s) {
        my $sel = IO::Select->new($s);
        my $data = '';
        while ($sel->can_read(5)) {
            last unless sysread($s, $data, 65536, length $data);
        }
    }

    my @l = counted();
    is(scalar @l, 20, '20 concurrent requests, 20 lines');
    is(scalar(grep { $_ eq "counted /v1/chat/completions 0 absent\n" } @l),
        10, 'concurrent: 10 plain lines');
    is(scalar(grep { $_ eq "counted /v1/chat/completions 1 1\n" } @l),
        10, 'concurrent: 10 streaming lines');
}

# GET /files/NAME

{
    $r = $t->http_get('/files/prices.json', port => $cport);
    is($r->{status}, 200, 'file status');
    is($r->{headers}{'content-type'}, 'application/json', 'file type');
    is($r->{body}, '{"gpt-x":{"input":1}}', 'file body');
    is($r->{headers}{'x-mock-name'}, 'counted', 'file X-Mock-Name');

    $r = $t->http_get('/files/prices.json?v=2', port => $cport);
    is($r->{body}, '{"gpt-x":{"input":1}}', 'file with a query string');

    $r = $t->http_get('/files/messages', port => $cport);
    is($r->{body}, '{"not":"a model"}', 'file named like an endpoint');

    $r = $t->http_get('/files/..x', port => $cport);
    is($r->{body}, '"dots"', 'file name with dots');

    $r = $t->http('HEAD', '/files/prices.json', port => $cport);
    is($r->{status}, 200, 'file HEAD status');
    is($r->{headers}{'content-length'}, 21, 'file HEAD Content-Length');

    $r = $t->http_get('/files/prices.json', port => $cport,
        headers => ['X-Mock-Split' => 4]);
    is($r->{body}, '{"gpt-x":{"input":1}}', 'file split');

    for my $code (500, 503, 404, 429) {
        $r = $t->http_get('/files/prices.json', port => $cport,
            headers => ['X-Mock-Status' => $code]);
        is($r->{status}, $code, "file X-Mock-Status $code");
        my $d = TierRouter::Test::json_decode($r->{body});
        ok($d && $d->{error}{message}, "file $code: OpenAI error shape");
    }

    for my $p ('/files/missing.json', '/files/', '/files/sub',
        '/files/sub/x.json', '/files/..', '/files/.', '/files/..%2Fcount.txt',
        '/files/a%20b', '/files/prices.json%00', '/files/pr;ces.json',
        '/files//prices.json')
    {
        $r = $t->http_get($p, port => $cport);
        is($r->{status}, 404, "file $p: 404");
        my $d = TierRouter::Test::json_decode($r->{body});
        ok($d && $d->{error}{message}, "file $p: OpenAI error shape");
    }

    $r = cpost('/files/prices.json', '{}');
    is($r->{status}, 405, 'file POST 405');

    $r = $t->http_get('/files/prices.json', port => $port);
    is($r->{status}, 404, 'file without --files: 404');

    ok(!-e $count, 'files requests not counted');
}

# SIGTERM stops the server and its children

{
    my $t2 = TierRouter::Test->new(no_module => 1);
    my $p2 = $t2->mock('term');
    my $pid = $t2->{mocks}{term};

    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $p2);
    syswrite($s, "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
        . "X-Mock-Latency-Ms: 20000\r\nContent-Length: 2\r\n\r\n{}");
    sleep 0.3;

    my @kids = children($pid);
    is(scalar @kids, 1, 'one child serving the slow request');

    kill 'TERM', $pid;
    my $t0 = time;
    sleep 0.05 while (kill(0, $pid) && waitpid($pid, 1) != $pid)
        && time - $t0 < 5;
    ok(!kill(0, $pid), 'server exited on SIGTERM');
    ok(!-e $t2->testdir . '/mock_term.pid', 'pidfile removed');

    sleep 0.05 while grep({ alive($_) } @kids) && time - $t0 < 5;
    ok(!grep({ alive($_) } @kids), 'children exited');

    my $data = '';
    my $sel = IO::Select->new($s);
    sysread($s, $data, 100) if $sel->can_read(2);
    is($data, '', 'slow connection closed');

    delete $t2->{mocks}{term};
}

done_testing;


sub children {
    my ($ppid) = @_;
    my @c;
    opendir my $d, '/proc' or return;
    for my $p (grep { /^\d+$/ } readdir $d) {
        open my $fh, '<', "/proc/$p/stat" or next;
        my ($pp) = (<$fh> // '') =~ /^\d+ \(.*\) \S+ (\d+)/ or next;
        push @c, $p if $pp == $ppid;
    }
    return @c;
}

sub alive {
    my ($pid) = @_;
    open my $fh, '<', "/proc/$pid/stat" or return 0;
    my $st = <$fh> // '';
    return $st !~ /^\d+ \(.*\) Z/;
}
