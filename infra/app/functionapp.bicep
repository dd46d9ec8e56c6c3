// The Function App on the Flex Consumption plan (Linux, Node 20) and its app settings. Every connection is
// identity-based (Durable Functions too: host.json names the connection with `connectionName`): the
// settings hold endpoints and the identity's client id, never a key.
param name string
param planName string
param location string
param tags object

@description('Resource id and client id of the user-assigned identity the app runs as.')
param identityId string
param identityClientId string

param storageAccountName string
param deploymentContainerName string
param applicationInsightsName string
param serviceBusFullyQualifiedNamespace string

@description('App settings naming the job containers (PARALLEL_JOB_*_CONTAINER).')
param jobContainerSettings object
param taskHubName string
param submitQueueName string
param eventsTopicName string

@minValue(1)
@maxValue(1000)
param maximumInstanceCount int

@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int

@minValue(0)
param alwaysReadyDurableInstances int

@allowed([
  'AzureStorage'
  'DurableTaskScheduler'
])
param durableBackend string

@description('Scheduler endpoint when durableBackend is DurableTaskScheduler; empty otherwise.')
param durableTaskSchedulerEndpoint string = ''

@secure()
@description('HMAC key of the signed download links (PARALLEL_JOB_LINK_SECRET).')
param linkSecret string

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    tier: 'FlexConsumption'
    name: 'FC1'
  }
  properties: {
    reserved: true
  }
}

resource functionApp 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  // azd finds the app to deploy the `api` service of azure.yaml by this tag.
  tags: union(tags, { 'azd-service-name': 'api' })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
        // 'durable' is the Flex Consumption scale group of orchestrator, activity and entity functions.
        alwaysReady: alwaysReadyDurableInstances > 0
          ? [
              {
                name: 'durable'
                instanceCount: alwaysReadyDurableInstances
              }
            ]
          : []
      }
      runtime: {
        name: 'node'
        version: '20'
      }
    }
  }
}

// No publishing with user names and passwords: azd deploys with an Entra token.
resource ftpPublishing 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: functionApp
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmPublishing 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: functionApp
  name: 'scm'
  properties: {
    allow: false
  }
}

var storageSettings = {
  AzureWebJobsStorage__blobServiceUri: storage.properties.primaryEndpoints.blob
  AzureWebJobsStorage__queueServiceUri: storage.properties.primaryEndpoints.queue
  AzureWebJobsStorage__tableServiceUri: storage.properties.primaryEndpoints.table
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identityClientId
}

var serviceBusSettings = {
  ServiceBusConnection__fullyQualifiedNamespace: serviceBusFullyQualifiedNamespace
  ServiceBusConnection__credential: 'managedidentity'
  ServiceBusConnection__clientId: identityClientId
}

// The App Insights connection string carries no secret: local auth is off, so ingestion also needs the
// identity's Entra token, requested through the authentication string.
var monitoringSettings = {
  APPLICATIONINSIGHTS_CONNECTION_STRING: applicationInsights.properties.ConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
}

// Every instance must accept the links another one signed, so the key is a setting, not per process.
var linkSettings = {
  PARALLEL_JOB_LINK_SECRET: linkSecret
}

var parallelJobSettings = union(jobContainerSettings, {
  // Jobs may never read or write the deployment package; the app learns its container from here.
  PARALLEL_JOB_DEPLOYMENT_CONTAINER: deploymentContainerName
  PARALLEL_JOB_TASK_HUB: taskHubName
  PARALLEL_JOB_SUBMIT_QUEUE: submitQueueName
  PARALLEL_JOB_EVENTS_TOPIC: eventsTopicName
  // Flex Consumption promises no Python interpreter: jobs with a .py entry script are refused at submission.
  PARALLEL_JOB_HOSTING_PLAN: 'flexconsumption'
})

// Selecting the Durable Task Scheduler overrides host.json's storageProvider through app settings
// (AzureFunctionsJobHost__<path>), so one host.json serves both backends. The "connection string" holds the
// endpoint and the identity to use, no key.
var durableTaskSchedulerSettings = {
  DURABLE_TASK_SCHEDULER_CONNECTION_STRING: 'Endpoint=${durableTaskSchedulerEndpoint};Authentication=ManagedIdentity;ClientID=${identityClientId}'
  AzureFunctionsJobHost__extensions__durableTask__storageProvider__type: 'azureManaged'
  AzureFunctionsJobHost__extensions__durableTask__storageProvider__connectionStringName: 'DURABLE_TASK_SCHEDULER_CONNECTION_STRING'
}

resource appSettings 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: functionApp
  name: 'appsettings'
  properties: union(
    storageSettings,
    serviceBusSettings,
    monitoringSettings,
    parallelJobSettings,
    linkSettings,
    durableBackend == 'DurableTaskScheduler' ? durableTaskSchedulerSettings : {}
  )
}

output name string = functionApp.name
output endpoint string = 'https://${functionApp.properties.defaultHostName}'
