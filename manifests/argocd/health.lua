-- Argo CD health for the HedgeOps kinds (HedgeBook, RebalancePolicy, FundingArbitrage, MarketMaker), read from
-- the conditions the operator writes. Registered for each kind by argocd-cm-health.yaml (rendered from this file).
--   Progressing: no cycle yet, or the latest spec generation not reconciled yet
--   Degraded:    cannot trade safely (Degraded), not Ready (invalid spec, missing policy), breaker tripped,
--                a position shared with another object on the account (its figures are wrong)
--   Suspended:   halted (kill switch), or a plan waiting for manual approval
--   Healthy:     reconciled; a book outside its band is still Healthy (its next rebalance is normal work)
local hs = {status = "Progressing", message = "waiting for the operator's first cycle"}
if obj.status == nil or obj.status.conditions == nil then
  return hs
end
local conditions = {}
for _, c in ipairs(obj.status.conditions) do
  conditions[c.type] = c
end
local function holds(kind)
  return conditions[kind] ~= nil and conditions[kind].status == "True"
end
local function says(kind)
  local c = conditions[kind]
  if c.message ~= nil and c.message ~= "" then
    return c.reason .. ": " .. c.message
  end
  return c.reason
end
local ready = conditions["Ready"]
if ready == nil then
  return hs
end
local generation = obj.metadata.generation
if generation ~= nil and ready.observedGeneration ~= nil and ready.observedGeneration < generation then
  hs.message = "spec generation " .. generation .. " not reconciled yet"
  return hs
end
if holds("Degraded") then
  hs.status = "Degraded"
  hs.message = says("Degraded")
  return hs
end
if ready.status ~= "True" then
  hs.status = "Degraded"
  hs.message = says("Ready")
  return hs
end
if holds("SharedPositions") then
  hs.status = "Degraded"
  hs.message = says("SharedPositions")
  return hs
end
if holds("BreakerTripped") then
  hs.status = "Degraded"
  hs.message = "circuit breaker: " .. says("BreakerTripped")
  return hs
end
if holds("Halted") then
  hs.status = "Suspended"
  hs.message = "halted: " .. says("Halted")
  return hs
end
if holds("AwaitingApproval") then
  hs.status = "Suspended"
  hs.message = says("AwaitingApproval")
  return hs
end
hs.status = "Healthy"
if holds("Finished") then
  hs.message = says("Finished")
else
  hs.message = says("Ready")
end
return hs
