// The primary region: the health-check app, watched from the secondary.
// Secrets come from the environment when `make deploy-primary` runs; nothing secret is committed.
using 'main.bicep'

param role = 'primary'

// Names end in this code: the health-check app is func-<plan name>-health-weu, the host the
// plan's watch target points at.
param regionCode = 'weu'
param peerRegionCode = 'neu'
param peerResourceGroup = readEnvironmentVariable('BCDR_SECONDARY_RG')

// 'down' while the other region is out: deploy without touching it.
param peerRegion = readEnvironmentVariable('BCDR_PEER_REGION', 'up')

param alertEmails = [
  'sre-oncall@example.com'
]
param alertWebhookUrls = readEnvironmentVariable('BCDR_ACTION_GROUP_WEBHOOKS', '')

// One entry per app setting the plan's http checks name as a %NAME% header value (none yet).
param healthCheckSecretSettings = {}
