namespace AsyncUtils;

/// <summary>The Lua script that makes every decision of a <see cref="RedisSlidingLogRateLimiter"/>, atomically, on the server's clock.</summary>
internal static class RedisLimiterScript
{
    /// <summary>The script text (sent once, then by its SHA1).</summary>
    internal const string Text = """
        -- One decision of a RedisSlidingLogRateLimiter, atomically, on the server's clock.
        -- KEYS: 1 log (zset permit -> grant time), 2 last time, 3 epoch, 4 quarantine end, 5 queue (zset ticket -> arrival),
        --       6 queue permit counts (hash), 7 ticket deadlines (zset), 8 arrival counter, 9 granted tickets (zset), 10 longest window kept
        -- ARGV: 1 op (e enter, p poll, r remove), 2 ticket, 3 permits, 4 may queue, 5 known epoch, 6 latest server time the caller saw,
        --       7 quarantine on, 8 ticket timeout (us), 9 new epoch id, 10 nudge channel, 11 window count, then (period us, limit) pairs.
        -- Times are microseconds. Returns {status, now, a, b, epoch, quarantine end, available}.
        local LOG, LAST, EPOCH, QUAR, Q, QN, QX, SEQ, DN, LP = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8], KEYS[9], KEYS[10]
        local op = ARGV[1]
        local ticket = ARGV[2]
        local n = tonumber(ARGV[3])
        local mayQueue = ARGV[4] == '1'
        local known = ARGV[5]
        local seen = tonumber(ARGV[6])
        local quarantineOn = ARGV[7] == '1'
        local grace = tonumber(ARGV[8])
        local channel = ARGV[10]
        local nw = tonumber(ARGV[11])
        local P, L = {}, {}
        local longest = 0
        for i = 1, nw do
          P[i] = tonumber(ARGV[10 + 2 * i])
          L[i] = tonumber(ARGV[11 + 2 * i])
          if P[i] > longest then longest = P[i] end
        end
        local function f(x) return string.format('%.0f', x) end
        local function ms(us) return math.max(1, math.ceil(us / 1000)) end

        -- The server's clock, clamped so that it never goes backwards (not even below a time a caller saw).
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
        local lastRaw = redis.call('GET', LAST)
        local last = tonumber(lastRaw or '0')
        -- State older than an answer a caller already had: the server restarted from an old snapshot or failed over and lost writes.
        local force = lastRaw and seen > last
        if last > now then now = last end
        if seen > now then now = seen end

        -- The log is kept for the longest window any limiter of this name uses.
        local keep = longest
        local lp = tonumber(redis.call('GET', LP) or '0')
        if lp > keep then keep = lp else redis.call('SET', LP, f(longest), 'PX', ms(2 * longest) + 10000) end

        -- Data loss: the epoch is created with the state; a caller that saw another one, or none now, lost grants.
        local epoch = redis.call('GET', EPOCH)
        local lost = force
        local created = now
        if not epoch then
          epoch = ARGV[9] .. ':' .. f(now)
          redis.call('SET', EPOCH, epoch)
          if known ~= '' then lost = true end
        else
          created = tonumber(string.match(epoch, ':(%d+)$')) or now
          if known ~= '' and known ~= epoch then lost = true end
        end
        local quar = tonumber(redis.call('GET', QUAR) or '0')
        if lost and quarantineOn then
          local untilT = created + keep
          if force then untilT = now + keep end
          if untilT > quar and untilT > now then
            quar = untilT
            redis.call('SET', QUAR, f(quar), 'PX', ms(quar - now) + 1000)
          end
        end

        redis.call('ZREMRANGEBYSCORE', LOG, '-inf', f(now - keep))
        redis.call('ZREMRANGEBYSCORE', DN, '-inf', f(now - keep - grace))

        -- Tickets whose process did not come back in time leave the queue.
        local changed = false
        for _, d in ipairs(redis.call('ZRANGEBYSCORE', QX, '-inf', '(' .. f(now))) do
          redis.call('ZREM', Q, d)
          redis.call('HDEL', QN, d)
          redis.call('ZREM', QX, d)
          changed = true
        end

        local function fits(need)
          if now < quar then return false end
          for i = 1, nw do
            if redis.call('ZCOUNT', LOG, '(' .. f(now - P[i]), '+inf') + need > L[i] then return false end
          end
          return true
        end

        local function record(tk, cnt)
          for k = 1, cnt do redis.call('ZADD', LOG, f(now), tk .. ':' .. k) end
          redis.call('ZADD', DN, f(now), tk)
        end

        -- Serves the queue from its head, in order, as far as the windows have room now.
        local servedOther = false
        local function serve()
          while true do
            local h = redis.call('ZRANGE', Q, 0, 0)[1]
            if not h then return end
            local hn = tonumber(redis.call('HGET', QN, h) or '1')
            if not fits(math.max(hn, 1)) then return end
            -- Its process comes back at its promised wake-up (deadline minus timeout): nudge only if that is later.
            local deadline = tonumber(redis.call('ZSCORE', QX, h) or '0')
            if h ~= ticket and now < deadline - grace then servedOther = true end
            record(h, hn)
            redis.call('ZREM', Q, h)
            redis.call('HDEL', QN, h)
            redis.call('ZREM', QX, h)
          end
        end

        -- When the queue, served in order, reaches the ticket `stop` and a newcomer asking `extra` permits.
        local function simulate(stop, extra)
          local ts = {}
          local raw = redis.call('ZRANGEBYSCORE', LOG, '(' .. f(now - longest), '+inf', 'WITHSCORES')
          for j = 2, #raw, 2 do ts[#ts + 1] = tonumber(raw[j]) end
          local total = #ts
          local at = math.max(now, quar)
          local stopAt = nil
          local function wait(need)
            for i = 1, nw do
              local idx = total + math.min(need, L[i]) - L[i]
              if idx >= 1 then at = math.max(at, ts[idx] + P[i]) end
            end
          end
          for _, tk in ipairs(redis.call('ZRANGE', Q, 0, -1)) do
            local tn = tonumber(redis.call('HGET', QN, tk) or '1')
            wait(math.max(tn, 1))
            if tk == stop then stopAt = at end
            for _ = 1, tn do
              total = total + 1
              ts[total] = at
            end
          end
          wait(math.max(extra, 1))
          return stopAt, at
        end

        local function available()
          if now < quar then return 0 end
          local a = nil
          for i = 1, nw do
            local room = L[i] - redis.call('ZCOUNT', LOG, '(' .. f(now - P[i]), '+inf')
            if a == nil or room < a then a = room end
          end
          return math.max(a or 0, 0)
        end

        local status, a, b = 0, 0, 0
        if op == 'r' then
          if redis.call('ZREM', Q, ticket) == 1 then
            redis.call('HDEL', QN, ticket)
            redis.call('ZREM', QX, ticket)
            a = 1
            changed = true
          elseif redis.call('ZSCORE', DN, ticket) then
            for k = 1, n do redis.call('ZREM', LOG, ticket .. ':' .. k) end
            redis.call('ZREM', DN, ticket)
            a = 2
            changed = true
          end
          serve()
          status = 3
        else
          serve()
          local g = redis.call('ZSCORE', DN, ticket)
          if g then
            status = 1
            a = tonumber(g)
            local _, nb = simulate(nil, 1)
            b = nb
          elseif redis.call('ZSCORE', Q, ticket) then
            local at, nb = simulate(ticket, 1)
            redis.call('ZADD', QX, f(at + grace), ticket)
            status, a, b = 0, at, nb
          elseif op == 'p' then
            status = 2
          elseif redis.call('ZCARD', Q) == 0 and fits(math.max(n, 1)) then
            record(ticket, n)
            local _, nb = simulate(nil, 1)
            status, a, b = 1, now, nb
          elseif mayQueue then
            redis.call('ZADD', Q, redis.call('INCR', SEQ), ticket)
            redis.call('HSET', QN, ticket, n)
            local at, nb = simulate(ticket, 1)
            redis.call('ZADD', QX, f(at + grace), ticket)
            status, a, b = 0, at, nb
          else
            local _, na = simulate(nil, n)
            local _, nb = simulate(nil, 1)
            status, a, b = -1, na, nb
          end
        end

        -- Every key expires when idle.
        local ttl = ms(2 * keep) + 10000
        redis.call('SET', LAST, f(now), 'PX', ttl)
        redis.call('PEXPIRE', EPOCH, ttl)
        redis.call('PEXPIRE', LOG, ttl)
        redis.call('PEXPIRE', DN, ttl)
        if redis.call('ZCARD', Q) == 0 then
          redis.call('DEL', Q, QN, QX, SEQ)
        else
          local mx = redis.call('ZRANGE', QX, -1, -1, 'WITHSCORES')
          local qttl = ms(tonumber(mx[2]) - now) + 1000
          redis.call('PEXPIRE', Q, qttl)
          redis.call('PEXPIRE', QN, qttl)
          redis.call('PEXPIRE', QX, qttl)
          redis.call('PEXPIRE', SEQ, qttl)
        end
        if changed or servedOther then redis.call('PUBLISH', channel, 'n') end
        return {status, now, a, b, epoch, quar, available()}
        """;
}
