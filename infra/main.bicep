// parallel-job on Azure: `azd up` provisions this template and deploys the app.
// Function App (Flex Consumption, Node 20; or, with hostingPlan = 'containerapp', a Functions container with
// Python on Azure Container Apps) + storage + Service Bus + Application Insights + a user-assigned identity
// with only the roles the code needs. No keys or connection strings anywhere (test/unit/infra); the one
// secret, the download-link key, is a @secure() parameter that only the app settings receive (in the
// container option, a container app secret).
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('azd environment name; seeds the unique suffix of every resource name.')
param environmentName string

@minLength(1)
@description('Region for every resource. It must offer Flex Consumption (az functionapp list-flexconsumption-locations), or Container Apps for the container option.')
@metadata({
  azd: {
    type: 'location'
  }
})
param location string

@allowed([
  'flexconsumption'
  'containerapp'
])
@description('Where the app runs: Flex Consumption (JavaScript/TypeScript tasks), or a container on Azure Container Apps that also runs Python tasks. Deploy the container option with infra/container/azure.yaml (docs/deploy.md).')
param hostingPlan string = 'flexconsumption'

@description('Whether the container app exists already (azd sets SERVICE_API_RESOURCE_EXISTS); provisioning then keeps the image azd deployed.')
param apiExists bool = false

@minValue(1)
@maxValue(1000)
@description('Most instances (container option: replicas) the app may scale out to; both allow up to 1000.')
param maximumInstanceCount int = 100

@allowed([
  512
  2048
  4096
])
@description('Memory of each instance in MB (container option: 0.25, 1 or 2 vCPU with it). Task code runs in worker threads and Python processes inside it.')
param instanceMemoryMB int = 2048

@minValue(0)
@description('Always-ready instances for the durable scale group (container option: minimum replicas, at least 1 with the AzureStorage backend). 0 = scale to zero.')
param alwaysReadyDurableInstances int = 0

@allowed([
  'AzureStorage'
  'DurableTaskScheduler'
])
@description('Durable Functions backend: the app\'s storage account, or a managed Durable Task Scheduler.')
param durableBackend string = 'AzureStorage'

@allowed([
  'Consumption'
  'Dedicated'
])
@description('Durable Task Scheduler SKU, used only when durableBackend is DurableTaskScheduler.')
param durableTaskSchedulerSku string = 'Consumption'

@description('Task hub name (app setting PARALLEL_JOB_TASK_HUB).')
param taskHubName string = 'ParallelJob'

@description('Object id of the person running azd (azd fills it in); gets blob data access. Empty = none.')
param userPrincipalId string = ''

// newGuid() may only be a parameter default: each provisioning run draws a new key unless one is given,
// which only ends the download links handed out before it (they last 15 minutes anyway).
@secure()
@description('HMAC key of the status page\'s signed download links (app setting PARALLEL_JOB_LINK_SECRET), at least 32 characters.')
@minLength(32)
param linkSecret string = '${newGuid()}${newGuid()}'

var abbrs = loadJsonContent('abbreviations.json')
var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = {
  'azd-env-name': environmentName
}
var functionAppName = '${abbrs.webSitesFunctions}${resourceToken}'
var containerAppName = '${abbrs.appContainerApps}${resourceToken}'
var useDurableTaskScheduler = durableBackend == 'DurableTaskScheduler'
var useContainerApp = hostingPlan == 'containerapp'

// The job containers, keyed by the app setting that names each one (src/config.ts has the same defaults).
var jobContainerSettings = {
  PARALLEL_JOB_JOBS_CONTAINER: 'jobs'
  PARALLEL_JOB_INPUTS_CONTAINER: 'inputs'
  PARALLEL_JOB_OUTPUTS_CONTAINER: 'outputs'
  PARALLEL_JOB_LOGS_CONTAINER: 'logs'
  PARALLEL_JOB_SCHEDULES_CONTAINER: 'schedules'
}
var deploymentContainerName = 'app-package'
var submitQueueName = 'job-submissions'
var eventsTopicName = 'job-events'
// Name of the blob-triggered function in functions/; the postdeploy hook points Event Grid at it.
var submitFromBlobFunctionName = 'SubmitFromBlob'

// Roles the app identity needs, per scope: the same lists as azureResourceContract.roles in src/config.ts.
var appStorageRoles = [
  'Storage Blob Data Owner'
  'Storage Queue Data Contributor'
  'Storage Table Data Contributor'
]
var appServiceBusRoles = [
  'Azure Service Bus Data Receiver'
  'Azure Service Bus Data Sender'
]
var appApplicationInsightsRoles = [
  'Monitoring Metrics Publisher'
]
var appDurableTaskSchedulerRoles = [
  'Durable Task Data Contributor'
]
// Not a role the code uses: the container option's platform pulls the app's image with the app identity.
var appContainerRegistryRoles = [
  'AcrPull'
]

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: '${abbrs.resourcesResourceGroups}${environmentName}'
  location: location
  tags: tags
}

module identity 'app/identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    name: '${abbrs.managedIdentityUserAssignedIdentities}${resourceToken}'
    location: location
    tags: tags
  }
}

module storage 'app/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    name: '${abbrs.storageStorageAccounts}${resourceToken}'
    location: location
    tags: tags
    containerNames: concat(map(items(jobContainerSettings), container => container.value), [deploymentContainerName])
  }
}

module serviceBus 'app/servicebus.bicep' = {
  name: 'servicebus'
  scope: rg
  params: {
    name: '${abbrs.serviceBusNamespaces}${resourceToken}'
    location: location
    tags: tags
    queueNames: [
      submitQueueName
    ]
    topicNames: [
      eventsTopicName
    ]
  }
}

module monitoring 'app/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    logAnalyticsName: '${abbrs.operationalInsightsWorkspaces}${resourceToken}'
    applicationInsightsName: '${abbrs.insightsComponents}${resourceToken}'
    location: location
    tags: tags
  }
}

module eventGrid 'app/eventgrid.bicep' = {
  name: 'eventgrid'
  scope: rg
  params: {
    name: '${abbrs.eventGridSystemTopics}${resourceToken}'
    location: location
    tags: tags
    storageAccountName: storage.outputs.name
  }
}

module durableTaskScheduler 'app/dts.bicep' = if (useDurableTaskScheduler) {
  name: 'durabletaskscheduler'
  scope: rg
  params: {
    name: '${abbrs.durableTaskSchedulers}${resourceToken}'
    location: location
    tags: tags
    taskHubName: taskHubName
    skuName: durableTaskSchedulerSku
    principalId: identity.outputs.principalId
    roleNames: appDurableTaskSchedulerRoles
  }
}

module rbac 'app/rbac.bicep' = {
  name: 'rbac'
  scope: rg
  params: {
    principalId: identity.outputs.principalId
    storageAccountName: storage.outputs.name
    storageRoles: appStorageRoles
    serviceBusNamespaceName: serviceBus.outputs.name
    serviceBusRoles: appServiceBusRoles
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    applicationInsightsRoles: appApplicationInsightsRoles
    userPrincipalId: userPrincipalId
  }
}

module functionApp 'app/functionapp.bicep' = if (!useContainerApp) {
  name: 'functionapp'
  scope: rg
  params: {
    name: functionAppName
    planName: '${abbrs.webServerFarms}${resourceToken}'
    location: location
    tags: tags
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    storageAccountName: storage.outputs.name
    deploymentContainerName: deploymentContainerName
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    serviceBusFullyQualifiedNamespace: serviceBus.outputs.fullyQualifiedNamespace
    jobContainerSettings: jobContainerSettings
    taskHubName: taskHubName
    submitQueueName: submitQueueName
    eventsTopicName: eventsTopicName
    maximumInstanceCount: maximumInstanceCount
    instanceMemoryMB: instanceMemoryMB
    alwaysReadyDurableInstances: alwaysReadyDurableInstances
    durableBackend: durableBackend
    durableTaskSchedulerEndpoint: useDurableTaskScheduler ? durableTaskScheduler!.outputs.endpoint : ''
    linkSecret: linkSecret
  }
  // The host starts as soon as the app exists: its identity must already hold the data roles.
  dependsOn: [
    rbac
  ]
}

module containerRegistry 'app/registry.bicep' = if (useContainerApp) {
  name: 'containerregistry'
  scope: rg
  params: {
    name: '${abbrs.containerRegistryRegistries}${resourceToken}'
    location: location
    tags: tags
    principalId: identity.outputs.principalId
    roleNames: appContainerRegistryRoles
  }
}

module containerAppImage 'app/container-image.bicep' = if (useContainerApp) {
  name: 'containerappimage'
  scope: rg
  params: {
    name: containerAppName
    exists: apiExists
  }
}

module containerApp 'app/containerapp.bicep' = if (useContainerApp) {
  name: 'containerapp'
  scope: rg
  params: {
    name: containerAppName
    environmentName: '${abbrs.appManagedEnvironments}${resourceToken}'
    location: location
    tags: tags
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    storageAccountName: storage.outputs.name
    deploymentContainerName: deploymentContainerName
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    logAnalyticsWorkspaceName: monitoring.outputs.logAnalyticsWorkspaceName
    serviceBusFullyQualifiedNamespace: serviceBus.outputs.fullyQualifiedNamespace
    containerRegistryLoginServer: containerRegistry!.outputs.loginServer
    image: containerAppImage!.outputs.image
    jobContainerSettings: jobContainerSettings
    taskHubName: taskHubName
    submitQueueName: submitQueueName
    eventsTopicName: eventsTopicName
    maximumInstanceCount: maximumInstanceCount
    instanceMemoryMB: instanceMemoryMB
    alwaysReadyDurableInstances: alwaysReadyDurableInstances
    durableBackend: durableBackend
    durableTaskSchedulerEndpoint: useDurableTaskScheduler ? durableTaskScheduler!.outputs.endpoint : ''
    linkSecret: linkSecret
  }
  // As for the Function App: the data roles first. The registry module, and with it AcrPull, comes first
  // through containerRegistryLoginServer.
  dependsOn: [
    rbac
  ]
}

// Outputs become azd environment values (the postdeploy hook and docs/deploy.md use them). No secrets.
output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output HOSTING_PLAN string = hostingPlan
output AZURE_FUNCTION_APP_NAME string = useContainerApp ? containerApp!.outputs.name : functionApp!.outputs.name
output PARALLEL_JOB_ENDPOINT string = useContainerApp ? containerApp!.outputs.endpoint : functionApp!.outputs.endpoint
// azd pushes the container option's image here (an empty value means there is no image to push).
output AZURE_CONTAINER_REGISTRY_ENDPOINT string = useContainerApp ? containerRegistry!.outputs.loginServer : ''
output AZURE_STORAGE_ACCOUNT_NAME string = storage.outputs.name
output AZURE_STORAGE_BLOB_ENDPOINT string = storage.outputs.blobEndpoint
output JOBS_CONTAINER_NAME string = jobContainerSettings.PARALLEL_JOB_JOBS_CONTAINER
output JOBS_SYSTEM_TOPIC_NAME string = eventGrid.outputs.name
output SUBMIT_FROM_BLOB_FUNCTION_NAME string = submitFromBlobFunctionName
output SERVICE_BUS_NAMESPACE string = serviceBus.outputs.fullyQualifiedNamespace
output DURABLE_BACKEND string = durableBackend
