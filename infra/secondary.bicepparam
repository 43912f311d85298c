// The secondary region: the watchdog and the activation app.
// Secrets come from the environment when `make deploy-secondary` runs; nothing secret is committed.
using 'main.bicep'

param role = 'secondary'

param regionCode = 'neu'
param peerRegionCode = 'weu'
param peerResourceGroup = readEnvironmentVariable('BCDR_PRIMARY_RG')

// 'down' while the primary region is out: deploy without touching it.
param peerRegion = readEnvironmentVariable('BCDR_PEER_REGION', 'up')

param alertEmails = [
  'sre-oncall@example.com'
]
param alertWebhookUrls = readEnvironmentVariable('BCDR_ACTION_GROUP_WEBHOOKS', '')

// The function keys the watchdog sends: make deploy-primary and make deploy-secondary register
// the same values as keys of the health-check and activation apps.
param healthKey = readEnvironmentVariable('BCDR_HEALTH_KEY')
param activationKey = readEnvironmentVariable('BCDR_ACTIVATION_KEY')

// The signing secret (and, during a rotation, the previous one).
param activationSecret = readEnvironmentVariable('BCDR_ACTIVATION_SECRET')
param activationSecretPrevious = readEnvironmentVariable('BCDR_ACTIVATION_SECRET_PREVIOUS', '')

// One entry per alert channel in the plan (alerts.channels[].urlSetting).
param alertChannelUrls = {
  BCDR_ALERT_TEAMS_URL: readEnvironmentVariable('BCDR_ALERT_TEAMS_URL')
  BCDR_ALERT_WEBHOOK_URL: readEnvironmentVariable('BCDR_ALERT_WEBHOOK_URL')
}

// More watchers on the same state, for a plan whose watches ask a quorum of k of n (README, "A
// quorum of watchers"): Azure watchers in other regions, e.g. [{ code: 'frc', location:
// 'francecentral' }], and the watcher on AWS Lambda (infra/aws/), trusted through workload
// identity federation: its account's issuer URL and its role's ARN (empty: no AWS watcher).
param extraWatchers = []
param awsIssuer = readEnvironmentVariable('BCDR_AWS_ISSUER', '')
param awsWatcherRoleArn = readEnvironmentVariable('BCDR_AWS_WATCHER_ROLE_ARN', '')
