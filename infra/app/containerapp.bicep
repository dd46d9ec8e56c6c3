// The container option (hostingPlan = 'containerapp' in main.bicep): the same Functions app, built into an
// image that also carries Python (infra/container/Dockerfile), run on Azure Container Apps as a Functions
// app (kind: 'functionapp', which lets the platform derive scale rules from the app's triggers). Its
// settings are functionapp.bicep's, block for block (test/unit/infra compares the two), plus the Python
// interpreter; every connection is identity-based, and the image is pulled with the identity too.
param name string
param environmentName string
param location string
param tags object

@description('Resource id and client id of the user-assigned identity the app runs as.')
param identityId string
param identityClientId string

param storageAccountName string
param deploymentContainerName string
param applicationInsightsName string
param logAnalyticsWorkspaceName string
param serviceBusFullyQualifiedNamespace string

@description('Login server of the registry azd pushes the image to; the identity holds AcrPull on it.')
param containerRegistryLoginServer string

@description('The image to run: the one azd deployed last, or empty before the first `azd deploy`.')
param image string

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

// Where the image's virtual environment puts its interpreter; the Dockerfile sets the same value.
var pythonInterpreter = '/opt/tasks-venv/bin/python'

// Until the first `azd deploy` there is no image of ours: Microsoft's Functions quickstart image holds the
// place, so that the app can be created (azd then replaces the image).
var placeholderImage = 'mcr.microsoft.com/azure-functions/dotnet8-quickstart-demo:1.0'

// Flex Consumption's instance sizes as Container Apps sizes, at the 1 vCPU : 2 GiB ratio Container Apps uses.
var containerSizes = {
  '512': {
    cpu: '0.25'
    memory: '0.5Gi'
  }
  '2048': {
    cpu: '1.0'
    memory: '2Gi'
  }
  '4096': {
    cpu: '2.0'
    memory: '4Gi'
  }
}
var containerSize = containerSizes[string(instanceMemoryMB)]

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' existing = {
  name: logAnalyticsWorkspaceName
}

resource environment 'Microsoft.App/managedEnvironments@2024-10-02-preview' = {
  name: environmentName
  location: location
  tags: tags
  properties: {
    // Container logs reach the workspace through the diagnostic setting below: the 'log-analytics'
    // destination would need the workspace's shared key in this template.
    appLogsConfiguration: {
      destination: 'azure-monitor'
    }
    workloadProfiles: [
      {
        name: 'Consumption'
        workloadProfileType: 'Consumption'
      }
    ]
  }
}

resource environmentLogs 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'logs-to-workspace'
  scope: environment
  properties: {
    workspaceId: workspace.id
    logs: [
      {
        category: 'ContainerAppConsoleLogs'
        enabled: true
      }
      {
        category: 'ContainerAppSystemLogs'
        enabled: true
      }
    ]
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

// Every replica must accept the links another one signed, so the key is a setting, not per process.
var linkSettings = {
  PARALLEL_JOB_LINK_SECRET: linkSecret
}

var parallelJobSettings = union(jobContainerSettings, {
  // Jobs may never read or write the deployment package; the app learns its container from here.
  PARALLEL_JOB_DEPLOYMENT_CONTAINER: deploymentContainerName
  PARALLEL_JOB_TASK_HUB: taskHubName
  PARALLEL_JOB_SUBMIT_QUEUE: submitQueueName
  PARALLEL_JOB_EVENTS_TOPIC: eventsTopicName
  // The image carries Python and the tasks' packages, so jobs with a .py entry script are accepted here.
  PARALLEL_JOB_HOSTING_PLAN: 'containerapp'
  PARALLEL_JOB_PYTHON: pythonInterpreter
})

// Selecting the Durable Task Scheduler overrides host.json's storageProvider through app settings
// (AzureFunctionsJobHost__<path>), so one host.json serves both backends. The "connection string" holds the
// endpoint and the identity to use, no key.
var durableTaskSchedulerSettings = {
  DURABLE_TASK_SCHEDULER_CONNECTION_STRING: 'Endpoint=${durableTaskSchedulerEndpoint};Authentication=ManagedIdentity;ClientID=${identityClientId}'
  AzureFunctionsJobHost__extensions__durableTask__storageProvider__type: 'azureManaged'
  AzureFunctionsJobHost__extensions__durableTask__storageProvider__connectionStringName: 'DURABLE_TASK_SCHEDULER_CONNECTION_STRING'
}

// Container Apps shows plain environment values to anyone who can read the app, so the link key is a
// container app secret that the environment names; the other settings are plain values.
var env = concat(
  map(
    items(union(
      storageSettings,
      serviceBusSettings,
      monitoringSettings,
      parallelJobSettings,
      durableBackend == 'DurableTaskScheduler' ? durableTaskSchedulerSettings : {}
    )),
    setting => {
      name: setting.key
      value: string(setting.value)
    }
  ),
  map(items(linkSettings), setting => {
    name: setting.key
    secretRef: toLower(replace(setting.key, '_', '-'))
  })
)

var secrets = map(items(linkSettings), setting => {
  name: toLower(replace(setting.key, '_', '-'))
  value: setting.value
})

resource app 'Microsoft.App/containerApps@2024-10-02-preview' = {
  name: name
  location: location
  // azd finds the app to deploy the `api` service of infra/container/azure.yaml by this tag.
  tags: union(tags, { 'azd-service-name': 'api' })
  kind: 'functionapp'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    managedEnvironmentId: environment.id
    workloadProfileName: 'Consumption'
    configuration: {
      activeRevisionsMode: 'Single'
      // The platform scales a Functions app from its triggers only with ingress on; HTTPS only.
      ingress: {
        external: true
        targetPort: 80
        allowInsecure: false
      }
      registries: [
        {
          server: containerRegistryLoginServer
          identity: identityId
        }
      ]
      secrets: secrets
    }
    template: {
      containers: [
        {
          name: 'functions'
          image: empty(image) ? placeholderImage : image
          env: env
          resources: {
            cpu: json(containerSize.cpu)
            memory: containerSize.memory
          }
        }
      ]
      scale: {
        // Container Apps scales Durable Functions work only with the Durable Task Scheduler (or MSSQL)
        // backend; with Azure Storage, one replica must always run to pick up orchestrations and activities.
        minReplicas: durableBackend == 'AzureStorage'
          ? max(1, alwaysReadyDurableInstances)
          : alwaysReadyDurableInstances
        maxReplicas: maximumInstanceCount
      }
    }
  }
}

output name string = app.name
output endpoint string = 'https://${app.properties.configuration.ingress.fqdn}'
