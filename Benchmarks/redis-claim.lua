-- The alternative users build instead of Lantern: the same claim as one Redis script.
-- KEYS[1] budget counter, KEYS[2] set of users holding a card; ARGV[1] user, ARGV[2] card value.
if redis.call('SISMEMBER', KEYS[2], ARGV[1]) == 1 then return 0 end
local remaining = tonumber(redis.call('GET', KEYS[1]) or '0')
if remaining < tonumber(ARGV[2]) then return -1 end
redis.call('DECRBY', KEYS[1], ARGV[2])
redis.call('SADD', KEYS[2], ARGV[1])
return 1
